builtins.map (x: x.value) [ { value = 1; } { valu = 2; } ]
