let a = {}; in { inherit a; a.b = 2; }
