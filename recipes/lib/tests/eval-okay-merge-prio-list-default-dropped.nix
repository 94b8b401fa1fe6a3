# The declared default list is not merged with definitions.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = mkOption { type = types.listOf types.int; default = [ 1 ]; }; } { l = [ 2 ]; } ]).l
