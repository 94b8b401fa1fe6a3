# Benchmark (b): build and fold a 200 000-element list and an attribute set of the same size.
let
  n = 200000;
  list = builtins.genList (i: i * 3) n;
  sum = builtins.foldl' (acc: x: acc + x) 0 list;
  evens = builtins.length (builtins.filter (x: x / 2 * 2 == x) (map (x: x + 1) list));
  set = builtins.listToAttrs (map (i: { name = "k${toString i}"; value = i; }) (builtins.genList (i: i) n));
  setSum = builtins.foldl' (acc: k: acc + set.${k}) 0 (builtins.attrNames set);
  mapped = builtins.mapAttrs (k: v: v * 2) set;
  mappedSum = builtins.foldl' (acc: v: acc + v) 0 (builtins.attrValues mapped);
in { inherit sum evens setSum mappedSum; size = builtins.length (builtins.attrNames set); }
