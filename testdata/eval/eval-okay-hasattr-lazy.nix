# `?` forces the sets on its path, never the value it finds last, so a
# fixed point may ask whether it has an attribute (nixpkgs lib's misc.nix).
let
  fix = f: let x = f x; in x;
  r = fix (x: { a = if x ? a then "a" else "b"; });
in
[
  ({ b = throw "x"; } ? b)
  ({ a.b = throw "x"; } ? a.b)
  ({ a = { }; } ? a.b)
  ({ a = 1; } ? a.b)
  r.a
]
