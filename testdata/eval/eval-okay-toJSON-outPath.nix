builtins.toJSON { x = { outPath = "/foo"; y = 1; }; }
