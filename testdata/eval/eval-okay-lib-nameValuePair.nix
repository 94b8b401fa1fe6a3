builtins.listToAttrs (map (x: { name = "k${toString x}"; value = x * x; }) [ 1 2 3 ])
