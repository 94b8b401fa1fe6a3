# mkIf inside a submodule that is a list element.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf (types.submodule { options.v = mkOption { type = types.int; default = 0; }; })); } { l = [ { v = mkIf true 1; } { v = mkIf false 2; } ]; } ]).l
