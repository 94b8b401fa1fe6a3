builtins.length (builtins.genList (i: throw "x") 3)
