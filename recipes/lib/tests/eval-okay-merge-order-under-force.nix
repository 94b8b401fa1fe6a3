# mkForce around mkBefore: the priority filters, then the order sorts.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.str); } { l = mkForce [ "b" ]; } { l = mkForce (mkBefore [ "a" ]); } { l = [ "c" ]; } ]).l
