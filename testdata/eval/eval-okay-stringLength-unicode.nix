builtins.stringLength "☃"
