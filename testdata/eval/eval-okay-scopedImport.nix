builtins.scopedImport { x = 5; } ./lib/uses-x.nix
