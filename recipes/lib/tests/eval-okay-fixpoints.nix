# fix, extends and overlays in the style of package sets.
let
  lib = import ../.;
  base = final: { a = 1; b = final.a + 1; name = "base"; };
  o1 = final: prev: { a = prev.a + 10; };
  o2 = final: prev: { c = final.b * 2; name = prev.name + "+o2"; };
  set = lib.fix (lib.extends (lib.composeManyExtensions [ o1 o2 ]) base);
  ext = (lib.makeExtensible base).extend o1;
in
{ inherit (set) a b c name; extA = ext.a; extB = ext.b; }
