(f x: x)
