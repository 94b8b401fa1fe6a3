builtins.toJSON { a = 1; b = [ true false null ]; c = "s\n\"q"; d = { e = 1.5; }; }
