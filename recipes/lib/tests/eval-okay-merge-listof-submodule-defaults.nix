# Each list element is a submodule with its defaults filled in.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf (types.submodule { options.a = mkOption { type = types.int; default = 1; }; options.b = mkOption { type = types.int; default = 2; }; })); } { l = [ { a = 5; } ]; } { l = [ { b = 6; } ]; } ]).l
