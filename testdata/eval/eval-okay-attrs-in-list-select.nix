(builtins.head [ { a = 7; } ]).a
