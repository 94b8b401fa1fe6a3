(builtins.listToAttrs [ { name = "a"; value = throw "x"; } { name = "b"; value = 1; } ]).b
