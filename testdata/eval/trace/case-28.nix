# The same through two forced sets: the frame shows the whole path.
let
  s = { inner = { a = 1; b = { c = throw "deep"; }; }; };
  g = x: [ x ];
in builtins.seq s.inner.a (g s.inner.b.c)
