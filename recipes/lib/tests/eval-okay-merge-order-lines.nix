# Ordering applies to lines as well.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.s = opt types.lines; } { s = "b"; } { s = mkAfter "c"; } { s = mkBefore "a"; } ]).s
