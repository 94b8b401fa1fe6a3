let s = builtins.listToAttrs (builtins.genList (i: { name = toString i; value = i; }) 500); in builtins.foldl' (a: n: a + s.${n}) 0 (builtins.attrNames s)
