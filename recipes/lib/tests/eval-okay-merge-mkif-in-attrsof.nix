# mkIf on one attribute of an attrsOf drops only that attribute.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.m = opt (types.attrsOf types.int); } { m = { a = 1; b = mkIf false 2; c = mkIf true 3; }; } ]).m
