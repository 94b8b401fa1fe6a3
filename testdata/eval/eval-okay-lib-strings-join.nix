let intersperse = sep: l: builtins.tail (builtins.concatMap (x: [ sep x ]) l); in intersperse 0 [ 1 2 3 ]
