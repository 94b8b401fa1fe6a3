let s = { x = 1; }; inherit (s) x; in x
