let l = [ [ 1 2 ] [ 3 [ 4 5 ] ] ]; in builtins.elemAt (builtins.elemAt (builtins.elemAt l 1) 1) 0
