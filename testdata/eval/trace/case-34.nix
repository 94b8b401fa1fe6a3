# Nix 2.8 parses `-` as a call of `__sub`: a variable operand is forced at the operator.
let x = 10 - x; in x
