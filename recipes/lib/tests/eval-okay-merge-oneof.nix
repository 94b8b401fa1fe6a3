# oneOf accepts any of its types.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = eval [ { options.a = opt (types.oneOf [ types.bool types.int types.str ]); options.b = opt (types.oneOf [ types.bool types.int types.str ]); options.c = opt (types.oneOf [ types.bool types.int types.str ]); } { a = true; b = 2; c = "three"; } ]; in [ e.a e.b e.c ]
