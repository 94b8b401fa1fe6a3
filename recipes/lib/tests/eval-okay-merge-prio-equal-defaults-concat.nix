# Definitions of equal priority are all merged (lists concatenate).
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { l = mkDefault [ 1 ]; } { l = mkDefault [ 2 ]; } ]).l
