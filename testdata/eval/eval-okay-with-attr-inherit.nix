with { x = 1; }; { inherit x; }
