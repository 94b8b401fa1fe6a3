# A wrong list element is reported with the element type.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.int); } { _file = "l.nix"; l = [ 1 "two" ]; } ]).l
