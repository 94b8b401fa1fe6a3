with { x = "outer"; }; with { y = 1; }; x
