# The set is forced before the selection is passed on, so the selection's
# thunk holds that set rather than its scope; the trace still names it.
let
  s = { a = throw "boom"; b = 1; };
  f = x: x;
in builtins.seq s.b (f s.a)
