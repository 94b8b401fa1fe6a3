let isType = t: v: builtins.typeOf v == t; in map (isType "int") [ 1 "1" 2 ]
