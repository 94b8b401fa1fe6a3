# Benchmark (g): nixpkgs' own shape of overlays: a 20 000-attribute package
# set and 400 overlays that each override or add a couple of packages,
# reading both the previous layer and the final fixpoint, then every package
# looked up once. (`overlays.nix` instead rewrites every package in half of
# its overlays.)
let
  fix = f: let x = f x; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  name = i: "pkg${toString i}";
  size = 20000;
  base = final: builtins.listToAttrs (builtins.genList (i: {
    name = name i;
    value = { pname = name i; version = i; };
  }) size);
  overlay = k: final: prev: {
    ${name (k * 37)} = prev.${name (k * 37)} // { version = prev.${name (k * 37)}.version + 1; };
    "extra${toString k}" = { pname = "extra"; version = final.${name k}.version; };
  };
  final = fix (builtins.foldl' (f: k: extends (overlay k) f) base (builtins.genList (k: k) 400));
in {
  versions = builtins.foldl' (acc: i: acc + final.${name i}.version) 0 (builtins.genList (i: i) size);
  extras = final.extra399.version;
  count = builtins.length (builtins.attrNames final);
}
