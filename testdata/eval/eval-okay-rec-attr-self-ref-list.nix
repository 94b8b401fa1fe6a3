rec { xs = [ 1 2 ]; n = builtins.length xs; }
