let pow = b: e: if e == 0 then 1 else b * pow b (e - 1); in [ (pow 2 10) (pow 3 4) (pow 2 62) (pow 2 63) (pow 2 64) ]
