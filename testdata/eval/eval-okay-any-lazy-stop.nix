builtins.any (x: x) [ true (throw "no") ]
