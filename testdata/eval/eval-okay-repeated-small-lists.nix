# Nix keeps lists of one or two elements inside the value: such a list
# prints as «repeated» only where the same value cell is met again, not
# wherever a copy of it is (found by the differential fuzzer).
let
  d = [ 1 "t" ];
  l = [ 1 ];
  x = [ 1 x ];
  big = [ 1 2 3 ];
in
[
  (builtins.mapAttrs (n: v: d) { a = 0; b = [ ]; })
  [ l l ]
  x
  (builtins.mapAttrs (n: v: big) { a = 0; b = 1; })
]
