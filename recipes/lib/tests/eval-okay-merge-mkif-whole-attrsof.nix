# mkIf on a whole attrsOf definition.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.m = opt (types.attrsOf types.int); } { m = mkIf false { a = 1; }; } { m = mkIf true { b = 2; }; } ]).m
