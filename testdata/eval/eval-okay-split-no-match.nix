builtins.split "z" ""
