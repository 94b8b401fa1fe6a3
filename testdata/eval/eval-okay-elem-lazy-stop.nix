builtins.elem 1 [ 1 (throw "no") ]
