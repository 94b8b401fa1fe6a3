# anything merges attribute sets recursively.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt types.anything; } { x.a.b = 1; } { x.a.c = [ 2 ]; x.d = "e"; } ]).x
