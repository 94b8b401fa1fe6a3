# A variable from `with` whose set is already forced is passed on as the
# set's own thunk, as Nix does: the trace is the same as through a thunk.
let
  s = { a = throw "from with"; b = 1; };
  f = x: x;
in builtins.seq s (with s; f a)
