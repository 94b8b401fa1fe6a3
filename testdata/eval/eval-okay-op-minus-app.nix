let f = x: x; in (f 5) - 3
