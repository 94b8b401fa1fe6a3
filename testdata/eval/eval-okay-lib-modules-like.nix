let evalOpts = defs: builtins.foldl' (acc: d: acc // d) { } defs; cfg = evalOpts [ { a = 1; } { b = 2; } { a = 3; } ]; in cfg
