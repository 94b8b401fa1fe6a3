builtins.genList (x: x) (-1)
