# Once a variable was looked up in it, it passes on what its set holds.
let s = { x = 1; y = 1 + 1; z = [ ]; }; in with s; builtins.seq y { a = x; b = y; c = z; }
