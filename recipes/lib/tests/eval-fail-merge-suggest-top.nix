# An unknown top-level name suggests the closest declared ones.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.services = opt types.attrs; options.networking = opt types.attrs; } { _file = "system.nix"; service = { }; } ]).networking
