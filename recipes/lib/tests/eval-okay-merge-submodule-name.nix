# An attrsOf submodule gets its attribute name as `name`.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule ({ name, ... }: { options.home = mkOption { type = types.str; default = "/home/${name}"; }; }))); } { u.alice = { }; u.bob.home = "/srv"; } ]).u
