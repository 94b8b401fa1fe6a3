# deepSeq finds a value being evaluated without a position to report it at.
let x = { a = builtins.deepSeq x 1; }; in x
