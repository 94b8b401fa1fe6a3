[ (builtins.match "a(b)c" "abc") (builtins.match "a(b)c" "abd") (builtins.match "(.*)\\.nix" "foo.nix") (builtins.match "[a-z]+" "abc") ]
