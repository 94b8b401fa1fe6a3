let p = builtins.unsafeGetAttrPos "b" { a = 1;
 b = 2; }; in [ p.line p.column ]
