[ (builtins.isFunction (x: x)) (builtins.isFunction map) (builtins.isFunction (map (x: x))) (builtins.isFunction 1) (builtins.isFunction { __functor = s: x: x; }) ]
