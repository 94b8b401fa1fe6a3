# `-0` written as an integer is the integer 0 in Nix (nlohmann), `-0.0` the float; `1e-0` is an exponent.
let j = builtins.fromJSON; in {
  a = j "[-0, -0.0, 0.0, -0e0, 0, -1, -0E2, 1e-0, -0.5]";
  types = map builtins.typeOf (j "[-0, -0.0, -0e0]");
  obj = j "{\"x\": -0, \"y\":-0, \"s\": \"-0\", \"t\": \"a\\\"-0\", \"z\" : [ -0 ]}";
  top = j "-0";
  topws = j "  -0  ";
  back = builtins.toJSON (j "[-0, -0.0]");
  divok = (-9223372036854775807 - 1) / 1;
  divneg = builtins.div (-9223372036854775807) (-1);
}
