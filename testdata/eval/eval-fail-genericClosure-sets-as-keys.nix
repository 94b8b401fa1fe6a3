# Nix keeps the keys in a set ordered by `<`: two sets cannot be ordered.
builtins.genericClosure { startSet = [ { key = { }; } { key = { a = 1; }; } ]; operator = _: [ ]; }
