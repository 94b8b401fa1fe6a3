# either merges all-right definitions with the right type (lists concatenate).
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt (types.either types.int (types.listOf types.int)); } { x = [ 1 ]; } { x = [ 2 ]; } ]).x
