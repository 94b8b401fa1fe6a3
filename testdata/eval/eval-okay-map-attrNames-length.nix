builtins.length (builtins.attrNames { a = 1; b = 2; })
