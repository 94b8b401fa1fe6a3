# mkBefore and mkAfter move definitions to the front and back.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.l = opt (types.listOf types.str); } { l = [ "mid" ]; } { l = mkAfter [ "last" ]; } { l = mkBefore [ "first" ]; } ]).l
