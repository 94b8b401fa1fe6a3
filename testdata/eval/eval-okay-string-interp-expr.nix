"${toString (1 + 2)} and ${builtins.concatStringsSep "," ["a" "b"]}"
