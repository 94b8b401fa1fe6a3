import ./lib/fn.nix 5
