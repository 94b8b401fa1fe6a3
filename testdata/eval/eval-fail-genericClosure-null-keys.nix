# A single null key is never compared; a second one is.
builtins.genericClosure { startSet = [ { key = null; } { key = null; } ]; operator = _: [ ]; }
