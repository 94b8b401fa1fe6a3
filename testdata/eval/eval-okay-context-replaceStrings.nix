let s = builtins.appendContext "x" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo" = { path = true; }; }; in builtins.getContext (builtins.replaceStrings ["a"] [s] "abc")
