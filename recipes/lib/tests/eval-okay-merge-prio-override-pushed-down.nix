# mkForce on a set of options applies to each option inside it.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.s.a = opt types.int; options.s.b = opt types.int; } { s = mkForce { a = 1; b = 2; }; } { s.a = 10; s.b = 20; } ]).s
