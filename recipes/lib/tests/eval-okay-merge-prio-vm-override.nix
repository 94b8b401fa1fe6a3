# mkOverride 10 beats mkForce (50).
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt types.int; } { x = mkForce 1; } { x = lib.mkVMOverride 2; } ]).x
