let mod = a: b: a - (a / b) * b; in [ (mod 7 3) (mod 10 5) (mod (-7) 3) ]
