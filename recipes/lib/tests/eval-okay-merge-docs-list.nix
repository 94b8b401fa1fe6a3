# The option list for documentation: types, defaults and submodule options.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
map (o: [ o.name o.type (o.default or null) ]) (lib.optionsList (lib.evalModules { modules = [ { options.a = mkOption { type = types.attrsOf (types.submodule { options.b = mkOption { type = types.int; default = 3; description = "b"; }; }); default = { }; description = "a"; }; options.hidden = mkOption { internal = true; default = 1; }; } ]; }).options)
