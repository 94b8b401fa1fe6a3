[ (builtins.filterSource (p: t: baseNameOf p != "sub") ./src) (builtins.path { path = ./src; name = "only-txt"; filter = p: t: t == "directory" || builtins.match ".*\\.txt" p != null; }) ]
