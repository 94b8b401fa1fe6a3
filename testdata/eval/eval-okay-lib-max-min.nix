let max = a: b: if a > b then a else b; in builtins.foldl' max 0 [ 3 9 2 ]
