let x = throw "boom"; in 1
