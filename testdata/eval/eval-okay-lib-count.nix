let count = pred: builtins.foldl' (c: x: if pred x then c + 1 else c) 0; in count (x: x > 2) [ 1 2 3 4 5 ]
