builtins.scopedImport { toString = x: "mine"; } ./lib/uses-tostring.nix
