let mk = n: (x: x + n); add2 = mk 2; add5 = mk 5; in [ (add2 1) (add5 1) ]
