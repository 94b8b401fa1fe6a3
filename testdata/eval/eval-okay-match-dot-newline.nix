builtins.match ".*" "a\nb"
