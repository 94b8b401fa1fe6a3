builtins.all (x: x) [ false (throw "no") ]
