let range = a: b: if a > b then [ ] else builtins.genList (n: a + n) (b - a + 1); in range 3 7
