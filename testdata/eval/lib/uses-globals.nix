# Names only builtins define, read through scopedImport.
[ (map (x: x + 1) [ 1 ]) (builtins.length [ 1 2 ]) (toString 3) ]
