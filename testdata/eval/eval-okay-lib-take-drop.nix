let take = n: l: builtins.genList (builtins.elemAt l) n; drop = n: l: builtins.genList (i: builtins.elemAt l (i + n)) (builtins.length l - n); in [ (take 2 [ 1 2 3 ]) (drop 1 [ 1 2 3 ]) ]
