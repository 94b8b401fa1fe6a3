# mkIf false leaves the default.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = mkOption { type = types.int; default = 7; }; } { x = mkIf false 1; } ]).x
