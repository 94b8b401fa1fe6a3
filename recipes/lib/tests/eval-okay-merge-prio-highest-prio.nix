# options.<x>.highestPrio reports the priority that won.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = lib.evalModules { modules = [ { options.a = opt types.int; options.b = mkOption { type = types.int; default = 0; }; options.c = opt types.int; } { a = mkForce 1; c = 3; } ]; }; in [ e.options.a.highestPrio e.options.b.highestPrio e.options.c.highestPrio ]
