let s = { a = 1; }; in [ s s { inherit s; } ]
