map (p: builtins.compareVersions (builtins.elemAt p 0) (builtins.elemAt p 1)) [ [ "1.0" "1.0" ] [ "1.0a" "1.0" ] [ "1.0" "1.0a" ] [ "2.0pre" "2.0" ] [ "10" "9" ] [ "1.0-rc1" "1.0" ] [ "a" "b" ] ]
