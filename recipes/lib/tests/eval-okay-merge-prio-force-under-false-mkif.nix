# mkForce under a false mkIf is gone, so it overrides nothing.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt types.int; } { x = mkIf false (mkForce 9); } { x = 2; } ]).x
