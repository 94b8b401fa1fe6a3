builtins.length (builtins.attrNames (builtins.listToAttrs (builtins.genList (i: { name = "n${toString i}"; value = i; }) 100)))
