{ lib }:
let
  inherit (builtins) length elemAt genList foldl' filter concatLists head tail;
in
rec {
  foldr = op: nul: list:
    let
      len = length list;
      go = i: if i == len then nul else op (elemAt list i) (go (i + 1));
    in
    go 0;
  foldl = op: nul: list: foldl' op nul list;
  imap0 = f: list: genList (i: f i (elemAt list i)) (length list);
  imap1 = f: list: genList (i: f (i + 1) (elemAt list i)) (length list);
  concatMap = builtins.concatMap;
  flatten = x: if builtins.isList x then builtins.concatMap flatten x else [ x ];
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  toList = x: if builtins.isList x then x else [ x ];
  range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
  last = list: elemAt list (length list - 1);
  init = list: genList (i: elemAt list i) (length list - 1);
  take = n: list: genList (i: elemAt list i) (lib.trivial.min n (length list));
  drop = n: list:
    let len = length list;
    in if n >= len then [ ] else genList (i: elemAt list (i + n)) (len - n);
  reverseList = list: let len = length list; in genList (i: elemAt list (len - i - 1)) len;
  unique = foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;
  findFirst = pred: default: list:
    let found = filter pred list;
    in if found == [ ] then default else head found;
  any = builtins.any;
  all = builtins.all;
  remove = e: filter (x: x != e);
  sort = builtins.sort;
  # Stable sort (builtins.sort is stable too, but this makes the intent explicit).
  sortOn = f: list:
    map (p: p.v) (builtins.sort (a: b: let fa = f a.v; fb = f b.v; in fa < fb || (fa == fb && a.i < b.i))
      (imap0 (i: v: { inherit i v; }) list));
  zipLists = a: b: genList (i: { fst = elemAt a i; snd = elemAt b i; }) (lib.trivial.min (length a) (length b));
  subtractLists = e: filter (x: !(builtins.elem x e));
  intersectLists = e: filter (x: builtins.elem x e);
  isList = builtins.isList;
  singleton = x: [ x ];
  partition = builtins.partition;
  inherit (builtins) filter elem head tail length concatLists genList elemAt;
}
