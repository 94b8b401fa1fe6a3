f (x: x; y)
