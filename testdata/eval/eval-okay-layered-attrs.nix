# `big // small` is kept as a layer over `big` (builder/eval/src/value/attrs.rs):
# every way of reading a set must see it as the plain merged set.
let
  big = builtins.listToAttrs (builtins.genList (i: { name = "a${toString (i * 3)}"; value = i; }) 100);
  # Overrides, new names sorting before, between and after the base's, and a chain of layers.
  l1 = big // { a3 = "over"; a0 = "first"; "a" = "lowest"; zz = "last"; a31 = "between"; };
  l2 = l1 // { a6 = "second"; a31 = "again"; };
  l3 = l2 // { b = 1; };
  # A big update of a layered set, and a layered set updating a small one.
  flat = l3 // builtins.listToAttrs (builtins.genList (i: { name = "a${toString i}"; value = -i; }) 30);
  small = { x = 1; a0 = "small"; } // l2;
  f = { a0, a3, zz, ... }@args: [ a0 a3 zz (builtins.length (builtins.attrNames args)) ];
in {
  names = builtins.attrNames l3;
  values = builtins.attrValues l2;
  count = map (s: builtins.length (builtins.attrNames s)) [ big l1 l2 l3 flat small ];
  lookups = [ l3.a3 l3.a6 l3.a9 l3.a31 l3.zz l3.b (l3.a4 or "absent") (l3 ? a117) (l3 ? a118) ];
  mapped = builtins.mapAttrs (n: v: "${n}=${toString v}") l2;
  removed = builtins.attrNames (builtins.removeAttrs l3 [ "a0" "a3" "b" "nope" ]);
  inter = builtins.intersectAttrs l3 { a3 = 1; b = 2; zz = 3; q = 4; a4 = 5; };
  inter2 = builtins.intersectAttrs { a3 = 1; b = 2; zz = 3; q = 4; } l3;
  equal = [ (l3 == l3) (l2 == (big // { a3 = "over"; a0 = "first"; "a" = "lowest"; zz = "last"; a31 = "again"; a6 = "second"; })) (l1 == l2) ];
  json = builtins.toJSON l1;
  xml = builtins.toXML (l1 // { a3 = 1; });
  inherit flat small;
  call = f l3;
  withs = with l3; [ a3 zz b ];
  inherited = let inherit (l3) a6 a9; in [ a6 a9 ];
  cat = builtins.catAttrs "a3" [ l1 big l3 { } ];
  zipped = builtins.attrNames (builtins.zipAttrsWith (n: vs: vs) [ l3 big ]);
  get = [ (builtins.getAttr "a31" l2) (builtins.hasAttr "zz" l3) ];
  seq = builtins.deepSeq l3 (builtins.seq l2 true);
  str = "${{ __toString = s: "s${toString s.n}"; n = 1; } // { n = 2; }}";
  fromList = builtins.attrNames (builtins.listToAttrs (map (n: { name = n; value = null; }) (builtins.attrNames l3)));
}
