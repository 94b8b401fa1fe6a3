# functionTo merges what the functions return.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.f = opt (types.functionTo (types.listOf types.int)); } { f = x: [ x ]; } { f = x: [ (x + 1) ]; } ]).f 10
