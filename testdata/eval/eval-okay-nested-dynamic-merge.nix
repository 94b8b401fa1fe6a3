let x = "a"; in { a.b = 1; ${x + "x"}.c = 2; }
