builtins.stringLength (builtins.foldl' (a: b: a + b) "" (builtins.genList (i: "x") 200))
