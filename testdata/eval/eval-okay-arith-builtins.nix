[ (builtins.add 1 2) (builtins.sub 5 3) (builtins.mul 4 5) (builtins.div 9 3) (builtins.add 1.5 2) ]
