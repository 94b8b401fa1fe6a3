let f = n: { ${n} = 1; a = 2; }; in f "a"
