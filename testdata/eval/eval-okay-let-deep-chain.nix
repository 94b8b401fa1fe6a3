let a = 1; b = a + 1; c = b + 1; d = c + 1; e = d + 1; in e
