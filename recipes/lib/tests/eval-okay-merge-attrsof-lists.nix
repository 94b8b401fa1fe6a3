# attrsOf (listOf ...) concatenates per attribute.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.m = opt (types.attrsOf (types.listOf types.int)); } { m.a = [ 1 ]; m.b = [ 5 ]; } { m.a = [ 2 ]; } ]).m
