# disabledModules removes a module by key.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.str); } { key = "extra"; l = [ "extra" ]; } { disabledModules = [ "extra" ]; l = [ "kept" ]; } ]).l
