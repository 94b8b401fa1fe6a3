builtins.elemAt [ (throw "a") 2 ] 1
