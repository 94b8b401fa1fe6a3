builtins.zipAttrsWith (n: vs: n + toString (builtins.length vs)) [ { x = 1; } { x = 2; y = 3; } ]
