let
  f = x: x + "a";
  s = { a.b = f 1; };
in
  s.a.b
