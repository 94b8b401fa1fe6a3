# Comparing a set with itself forces its attributes (differential fuzzer).
let x0 = { a = (x0 == x0); }; in x0.a
