# Nix 2.8 converts the rounded double to a 64-bit integer as x86-64 does:
# NaN, infinities and anything outside [-2^63, 2^63) give -2^63; an integer
# argument is first made a float (2^53 + 1 rounds to 2^53).
let
  inf = 1.0e308 * 10;
  r = x: [ (builtins.ceil x) (builtins.floor x) ];
in
  r 1.0e30 ++ r (-1.0e30) ++ r inf ++ r (-inf) ++ r (inf - inf) ++ r (-0.0)
  ++ r (-0.5) ++ r 9.2233720368547748e18 ++ r (-9.2233720368547758e18)
  ++ r 9007199254740993 ++ r 9223372036854775807 ++ r (-9223372036854775807)
