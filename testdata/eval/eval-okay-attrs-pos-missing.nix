builtins.unsafeGetAttrPos "z" { a = 1; }
