# A module whose whole config is under mkIf reading config.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.enable = mkOption { type = types.bool; default = false; }; options.msg = mkOption { type = types.str; default = "off"; }; } ({ config, ... }: { config = mkIf config.enable { msg = "on"; }; }) ]).msg
