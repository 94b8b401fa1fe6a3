map (x: x.key) (builtins.genericClosure { startSet = [ { key = "a"; n = [ "b" "c" ]; } ]; operator = x: map (k: { key = k; n = [ "a" ]; }) x.n; })
