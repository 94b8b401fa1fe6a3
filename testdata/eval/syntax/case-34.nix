if f x: x then 1 else 2
