# A later `a.c = …` merges into an earlier `a = rec { … }` and is evaluated
# in its scope (kept by Nix for compatibility, nix issue 9020); the first
# definition decides whether the merged set is recursive.
let
  x = 7;
  one = { a = rec { b = c + 1; d = 2; }; a.c = d + 3; };
  two = let a = rec { b = c; }; a.c = 1; in a;
  three = { a = rec { x = 1; }; a = { y = x; }; };
  four = { a = { x = 1; }; a = rec { y = x; }; };
in
[ one two three four ]
