# Integer keys, then a string: the new key is compared with an earlier one.
builtins.genericClosure { startSet = [ { key = 3; } { key = 1; } { key = 2; } { key = "x"; } ]; operator = _: [ ]; }
