let unique = builtins.foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ]; in unique [ 1 2 1 3 2 4 ]
