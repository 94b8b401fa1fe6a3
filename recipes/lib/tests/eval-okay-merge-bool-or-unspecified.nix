# Untyped options merge by kind: lists concatenate, sets combine.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = eval [ { options.l = mkOption { }; options.s = mkOption { }; } { l = [ 1 ]; s.a = 1; } { l = [ 2 ]; s.b = 2; } ]; in [ e.l e.s ]
