builtins.toJSON [ {} [] "" 0 ]
