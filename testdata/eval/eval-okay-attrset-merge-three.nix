{ a.b = 1; a.c.d = 2; a.c.e = 3; }
