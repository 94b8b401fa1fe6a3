# deepSeq and --strict printing finish on values that contain themselves;
# a set or list met again prints as «repeated», as in Nix.
let
  x = { a = 1; s = x; l = [ 1 2 3 x.l ]; };
  shared = { k = "v"; };
in
builtins.deepSeq x [ x [ shared shared ] (builtins.length x.l) ]
