let
  check = v: if builtins.isInt v then v else throw "not an integer: ${builtins.typeOf v}";
  set = { a = check 1; b = { c = check "two"; }; };
in
  set.b.c + set.a
