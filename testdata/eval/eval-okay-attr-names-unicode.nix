builtins.attrNames { "é" = 1; z = 2; a = 3; }
