let s = builtins.appendContext "x" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo.drv" = { outputs = ["out" "dev"]; }; }; in [ (builtins.hasContext s) (builtins.getContext s) ]
