# A condition may read other options of config.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.enable = opt types.bool; options.port = mkOption { type = types.int; default = 0; }; } ({ config, ... }: { port = mkIf config.enable 80; }) { enable = true; } ]).port
