# Disabling the declaring module removes its options too.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { key = "decl"; options.a = mkOption { type = types.int; default = 1; }; } { options.b = mkOption { type = types.int; default = 2; }; } { disabledModules = [ "decl" ]; } ]) // { _module = null; }
