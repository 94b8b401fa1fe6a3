let xs = builtins.genList (i: 10 / (2 - i)) 4; in builtins.elemAt xs 2
