# Division wants its divisor as a float first.
let d = "2"; in 10 / d
