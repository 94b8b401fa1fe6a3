let f = a: b: a - b; in f 10 3
