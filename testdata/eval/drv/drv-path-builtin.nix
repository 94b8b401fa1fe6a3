[ (builtins.path { path = ./src; }) (builtins.path { path = ./src; name = "renamed"; }) (builtins.path { path = ./src/a.txt; recursive = false; }) ]
