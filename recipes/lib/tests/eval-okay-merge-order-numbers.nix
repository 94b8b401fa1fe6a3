# mkOrder sorts by number; plain definitions are 1000.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { l = mkOrder 1200 [ 12 ]; } { l = [ 10 ]; } { l = mkOrder 800 [ 8 ]; } { l = mkOrder 1000 [ 11 ]; } ]).l
