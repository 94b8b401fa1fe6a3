builtins.hasContext (builtins.concatStringsSep "" [ "a" ])
