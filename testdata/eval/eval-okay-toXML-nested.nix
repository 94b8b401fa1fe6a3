builtins.toXML { a = { b = { c = [ [] {} ]; }; }; }
