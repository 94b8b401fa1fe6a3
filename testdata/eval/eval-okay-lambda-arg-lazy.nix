(x: 1) (throw "unused")
