# A submodule's own config may use mkIf on its own options.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule ({ config, ... }: { options.normal = mkOption { type = types.bool; default = false; }; options.home = mkOption { type = types.str; default = "/var/empty"; }; config.home = mkIf config.normal "/home/x"; }))); } { u.a.normal = true; u.b = { }; } ]).u
