# Through a pattern default: at the default that reads the other formal.
let f = { a ? b, b ? a }: a; in f { }
