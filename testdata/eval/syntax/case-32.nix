x: x ++ y: y
