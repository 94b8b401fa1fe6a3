let p = builtins.unsafeGetAttrPos "b" (let a = 1; b = 2; in { inherit   a  b; }); in throw "column ${toString p.column}"
