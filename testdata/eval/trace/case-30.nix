# An infinite recursion is reported where the variable that found it is read.
let x = y; y = x; in x
