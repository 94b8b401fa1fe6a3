builtins.toXML { a = 1; b = "x<y>&\""; c = [ true null ]; d = 1.5; }
