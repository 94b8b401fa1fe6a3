# apply transforms the merged value.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = mkOption { type = types.listOf types.int; apply = builtins.length; }; } { l = [ 1 2 ]; } { l = [ 3 ]; } ]).l
