# A selection is a thunk until forced, even from a set already forced.
let s = { x = 1; y = 1 + 1; z = [ ]; }; in builtins.seq s.y { a = s.x; b = s.y; c = s.z; d = s; }
