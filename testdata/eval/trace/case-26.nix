let
  x = { a = 1; };
in {
  s = "prefix ${toString 1} and ${x} after";
}
