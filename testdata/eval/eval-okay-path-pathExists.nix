[ (builtins.pathExists ./eval-okay-int.nix) (builtins.pathExists ./no-such-file) (builtins.pathExists ./.) ]
