# The grouping function is called on every element, the zip function only when a value is asked for.
[
  (builtins.attrNames (builtins.zipAttrsWith (n: v: throw "unused") [ { b = 1; } { a = 2; } ]))
  (builtins.groupBy (x: if x then "t" else "f") [ true false true ])
  (builtins.zipAttrsWith (n: v: n + toString (builtins.length v)) [ { a = 1; } { a = 2; b = 3; } { } ])
  (builtins.groupBy (x: x.k) [ { k = "b"; v = 1; } { k = "a"; v = 2; } { k = "b"; v = 3; } ])
  (builtins.groupBy (x: x) [ ])
  (builtins.zipAttrsWith (n: v: v) [ ])
]
