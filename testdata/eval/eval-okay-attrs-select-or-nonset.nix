let s = { a = 1; }; in s.a.b or "default"
