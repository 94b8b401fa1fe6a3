[ (builtins.isPath ./foo) (builtins.isPath "/foo") (builtins.isPath (./foo + "/bar")) ]
