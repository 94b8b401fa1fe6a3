# sort forces every element before comparing, even one the comparator never
# looks at (Nix 2.8's prim_sort).
builtins.seq (builtins.sort (a: b: true) [ 1 2 (throw "an element sort must force") ]) 1
