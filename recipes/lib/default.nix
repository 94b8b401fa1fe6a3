# The b8g library: small helpers and the module system (options, types, merging).
# Written for b8g; it follows the conventions NixOS users know (mkOption, mkIf,
# mkDefault, types.*), so system.nix files read the same.
let
  trivial = import ./trivial.nix { inherit lib; };
  lists = import ./lists.nix { inherit lib; };
  attrsets = import ./attrsets.nix { inherit lib; };
  strings = import ./strings.nix { inherit lib; };
  fixedPoints = import ./fixed-points.nix { inherit lib; };
  options = import ./options.nix { inherit lib; };
  modules = import ./modules.nix { inherit lib; };
  types = import ./types.nix { inherit lib; };
  docs = import ./docs.nix { inherit lib; };
  lib = trivial // lists // attrsets // strings // fixedPoints // options // modules // docs // {
    inherit trivial lists attrsets strings fixedPoints options modules types docs;
  };
in
lib
