# Bindings of recursive and non-recursive lets, and pattern defaults.
let
  a = 1;
  f = { p ? [ a ], q ? 3 }: { inherit p q; r = p; };
  r = {
    one = let b = [ a ]; c = 2; in { inherit b c; d = b; };
    two = let b = [ c ]; c = 2; in { inherit b c; };
    three = f { };
  };
in builtins.seq r.one (builtins.seq r.two (builtins.seq r.three r))
