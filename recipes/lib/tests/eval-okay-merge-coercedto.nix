# coercedTo turns a string into the submodule form.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.s = opt (types.attrsOf (types.coercedTo types.str (t: { text = t; }) (types.submodule { options.text = opt types.str; options.deps = mkOption { type = types.listOf types.str; default = [ ]; }; }))); } { s.a = "echo a"; s.b = { text = "echo b"; deps = [ "a" ]; }; } ]).s
