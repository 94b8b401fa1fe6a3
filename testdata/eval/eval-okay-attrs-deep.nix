let s = { a.b.c.d.e.f = 1; }; in s.a.b.c.d.e
