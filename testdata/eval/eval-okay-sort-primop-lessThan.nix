builtins.sort builtins.lessThan [ "c" "a" "b" ]
