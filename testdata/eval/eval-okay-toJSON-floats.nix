builtins.toJSON [ 1.5 0.1 100.0 1.0 2.25 ]
