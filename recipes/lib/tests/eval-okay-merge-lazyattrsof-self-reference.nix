# lazyAttrsOf lets an attribute's condition read a sibling attribute.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.m = opt (types.lazyAttrsOf types.int); } ({ config, ... }: { m = { a = 1; b = mkIf (config.m.a == 1) 2; }; }) ]).m
