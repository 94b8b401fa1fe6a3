# Equal order keeps module order.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { l = mkBefore [ 1 ]; } { l = [ 2 ]; } { l = mkBefore [ 3 ]; } { l = [ 4 ]; } ]).l
