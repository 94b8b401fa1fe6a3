builtins.head [ 1 (throw "b") ]
