builtins.concatStringsSep "," [ { __toString = _: "x"; } "y" ]
