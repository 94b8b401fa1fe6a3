let foldr = op: nul: list: let len = builtins.length list; fold' = n: if n == len then nul else op (builtins.elemAt list n) (fold' (n + 1)); in fold' 0; in foldr (a: b: [ a ] ++ b) [ ] [ 1 2 3 ]
