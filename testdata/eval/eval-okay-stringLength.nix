[ (builtins.stringLength "") (builtins.stringLength "abc") (builtins.stringLength "${"ab"}c") ]
