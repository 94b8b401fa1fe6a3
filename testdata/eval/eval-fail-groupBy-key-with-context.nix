# Group names may not refer to store paths (forceStringNoCtx).
let s = builtins.appendContext "k" { "/nix/store/g76zcpqc540lrc8i6g7xy6ip0npn2hnp-a" = { path = true; }; };
in builtins.groupBy (x: s) [ 1 ]
