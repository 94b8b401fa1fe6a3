# extendModules adds definitions to an evaluation.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = lib.evalModules { modules = [ { options.l = opt (types.listOf types.int); } { l = [ 1 ]; } ]; }; in (e.extendModules { modules = [ { l = [ 2 ]; } ]; }).config.l
