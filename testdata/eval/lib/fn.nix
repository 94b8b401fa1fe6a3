n: n * 2
