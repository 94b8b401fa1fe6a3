let x = 5; in [ (-x) (- x) (0 - -x) (-(-x)) ]
