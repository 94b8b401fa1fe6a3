builtins.builtins.builtins.length [ 1 ]
