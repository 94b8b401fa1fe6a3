# A plain list definition drops every mkDefault one.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { l = mkDefault [ 1 ]; } { l = [ 3 ]; } { l = mkDefault [ 2 ]; } ]).l
