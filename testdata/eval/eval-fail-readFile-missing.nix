builtins.readFile ./no-such-file
