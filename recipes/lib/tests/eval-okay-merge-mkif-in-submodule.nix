# mkIf on an option inside a submodule, with the condition from the outer config.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.on = opt types.bool; options.u = opt (types.attrsOf (types.submodule { options.shell = mkOption { type = types.str; default = "sh"; }; })); } ({ config, ... }: { u.alice.shell = mkIf config.on "zsh"; u.bob.shell = mkIf (!config.on) "zsh"; }) { on = true; } ]).u
