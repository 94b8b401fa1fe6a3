builtins.attrNames (builtins.intersectAttrs { c = 1; a = 1; } { a = 2; b = 2; c = 2; })
