(import ./lib/rel.nix).value
