let rev = l: let n = builtins.length l; in builtins.genList (i: builtins.elemAt l (n - 1 - i)) n; in rev [ 1 2 3 ]
