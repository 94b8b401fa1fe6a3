# Defaults that name none of the pattern's formals are compiled in the scope
# outside the function; those that do, or might, see the formals.
let
  a = 1;
  f = { a ? 5, b ? a + 1 }: [ a b ];           # b's default names a: the formal
  g = { x, y ? a + 10 }: [ x y ];              # y's default: the outer a
  h = { x ? [ a ], ... }@args: [ x (args.z or 0) ];
  k = { x ? args, ... }@args: builtins.attrNames x;  # the @-name is a formal too
  w = s: with s; { p ? q }: p;                 # a default through with
in [ (f { }) (f { a = 2; }) (g { x = 0; }) (h { z = 3; }) (k { m = 1; }) (w { q = 4; } { }) ]
