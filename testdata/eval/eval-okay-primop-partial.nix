let add3 = builtins.add 3; in [ (add3 1) (add3 10) ]
