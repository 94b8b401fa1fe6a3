# With mkOverride the lower number wins.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt types.str; } { x = mkOverride 20 "a"; } { x = mkOverride 10 "b"; } { x = mkOverride 30 "c"; } ]).x
