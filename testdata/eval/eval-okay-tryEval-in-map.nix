map (x: (builtins.tryEval x).success) [ 1 (throw "x") 3 ]
