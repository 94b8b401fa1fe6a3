# Two declarations of the same submodule option add up their options.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.s = opt (types.submodule { options.a = mkOption { type = types.int; default = 1; }; }); } { options.s = mkOption { type = types.submodule { options.b = mkOption { type = types.int; default = 2; }; }; }; } { s.b = 3; } ]).s
