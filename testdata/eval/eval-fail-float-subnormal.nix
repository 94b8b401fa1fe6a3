# Nix 2.8's lexer rejects a float literal its strtod reports out of range,
# here a subnormal, even where it is never evaluated.
if true then 1 else 5.0e-324
