builtins.toJSON [ (-1) (-1.5) ]
