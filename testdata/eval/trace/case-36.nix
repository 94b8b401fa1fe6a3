# A stack overflow is printed without a position or a trace.
let f = n: f (n + 1) + 1; in f 0
