# `tail` of a long list shares its values (builder/eval/src/value/list.rs):
# tails must read as plain lists everywhere.
let
  l = builtins.genList (i: i * 2) 100;
  tails = n: l: if n == 0 then l else tails (n - 1) (builtins.tail l);
  t1 = builtins.tail l;
  t50 = tails 50 l;
  t80 = tails 80 l;
  t99 = tails 99 l;
in {
  lengths = map builtins.length [ t1 t50 t80 t99 (tails 100 l) ];
  heads = map builtins.head [ t1 t50 t80 t99 ];
  elems = [ (builtins.elemAt t50 0) (builtins.elemAt t50 49) (builtins.elemAt t1 98) ];
  equal = [ (t50 == builtins.genList (i: 100 + i * 2) 50) (t1 == l) (tails 2 t1 == tails 3 l) (t99 == [ 198 ]) ];
  concat = builtins.length (t50 ++ t80 ++ t1) + builtins.elemAt (t99 ++ t50) 1;
  mapped = map (x: x + 1) t80;
  filtered = builtins.filter (x: x / 4 * 4 == x) t80;
  sorted = builtins.sort (a: b: a > b) t80;
  folded = builtins.foldl' (a: b: a + b) 0 t50;
  json = builtins.toJSON t80;
  all = builtins.all (x: x >= 100) t50;
  elem = [ (builtins.elem 100 t50) (builtins.elem 98 t50) ];
  concatLists = builtins.length (builtins.concatLists [ t50 t80 [ 1 ] ]);
  deep = builtins.deepSeq t50 (builtins.length t50);
  gen = builtins.genericClosure { startSet = map (k: { key = k; }) t80; operator = _: [ ]; };
  str = builtins.concatStringsSep "," (map toString t80);
}
