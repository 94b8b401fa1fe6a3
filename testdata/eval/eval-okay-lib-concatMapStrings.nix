builtins.concatStringsSep "" (map (x: "<" + x + ">") [ "a" "b" ])
