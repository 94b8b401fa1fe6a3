[ builtins.add (builtins.add 1) builtins.length ]
