# Priorities work on options inside submodules.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule { options.shell = mkOption { type = types.str; default = "sh"; }; })); } { u.alice.shell = mkForce "zsh"; } { u.alice.shell = "bash"; } { u.bob = { }; } ]).u
