builtins.readFile (builtins.findFile [ { prefix = "x"; path = toString ./data; } ] "x/hello.txt")
