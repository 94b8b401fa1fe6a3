# mkMerge of list definitions concatenates them.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { l = mkMerge [ [ 1 ] [ 2 ] (mkIf false [ 3 ]) ]; } ]).l
