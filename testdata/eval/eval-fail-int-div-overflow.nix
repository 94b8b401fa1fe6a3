# The one integer quotient that does not fit: Nix 2.8 fails rather than wrapping.
builtins.div (-9223372036854775807 - 1) (-1)
