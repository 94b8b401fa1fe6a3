let hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p; in [ (hasPrefix "ab" "abc") (hasPrefix "b" "abc") ]
