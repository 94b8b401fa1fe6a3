a: { b = a; c = ; }
