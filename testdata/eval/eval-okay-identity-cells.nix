# Nix compares a value with itself as equal without looking (`eqValues`), and
# `//` makes a new set even when the right side has every name.
let
  f = x: x;
  s = { a = throw "never compared"; };
  inf = 1.0e308 * 10.0;
  nan = inf - inf;
  t = { a = 1; b = 2; };
in {
  elemF = builtins.elem f [ f ];
  elemS = builtins.elem s [ 1 s ];
  elemNan = builtins.elem nan [ nan ];
  elemTail = let l = [ 0 f ]; in [ (builtins.elem f l) (builtins.elem f (builtins.tail l)) ];
  nanString = toString nan;
  infString = [ (toString inf) (toString (-inf)) ];
  updates = [ t ({ a = 0; } // t) (t // t) ({ } // t) (t // { }) ];
}
