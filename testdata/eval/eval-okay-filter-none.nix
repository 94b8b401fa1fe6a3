builtins.filter (x: false) [ 1 2 ]
