builtins.foldl' (a: b: a + b) 42 [ ]
