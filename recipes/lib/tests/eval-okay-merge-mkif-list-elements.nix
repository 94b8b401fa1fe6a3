# mkIf around list definitions.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.str); } { l = mkIf true [ "a" ]; } { l = mkIf false [ "b" ]; } { l = [ "c" ]; } ]).l
