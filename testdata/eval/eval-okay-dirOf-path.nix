let p = dirOf ./x/y; in [ (builtins.isPath p) (baseNameOf p) ]
