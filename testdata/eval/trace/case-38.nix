# `+` is not a call in Nix 2.8: its operand is read at the variable.
let y = 1 + y; in y
