builtins.getContext (builtins.appendContext "" { "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-foo.drv" = { allOutputs = true; }; })
