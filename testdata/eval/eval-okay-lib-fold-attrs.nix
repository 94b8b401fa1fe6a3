builtins.foldl' (acc: n: acc // { ${n} = builtins.stringLength n; }) { } [ "a" "bb" "ccc" ]
