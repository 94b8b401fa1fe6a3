let a = 5; b = 3; in a - b
