let lib = import ./lib/minilib.nix; in lib.result
