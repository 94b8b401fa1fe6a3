# Only the scopes searched matter: the outer one was never looked into.
with { x = 1; }; with { y = 2; }; builtins.seq y { a = x; b = y; }
