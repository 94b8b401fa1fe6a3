# Imported modules come after the modules listed directly (breadth first).
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.str); } { imports = [ { l = [ "imported" ]; } ]; l = [ "a" ]; } { l = [ "b" ]; } ]).l
