# Unary minus is `__sub 0 x`, so the same.
let x = -x; in x
