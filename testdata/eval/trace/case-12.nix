let
  f = x:
    assert x > 1;
    x;
in { r = f 0; }
