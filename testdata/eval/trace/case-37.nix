# `<` is a call of `__lessThan`.
let y = 1 < y; in y
