# A `with` scope no variable was looked up in yet gives thunks.
let s = { x = 1; y = 1 + 1; z = [ ]; }; in builtins.seq s.y (with s; { a = x; b = y; c = z; })
