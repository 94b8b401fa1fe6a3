# mkAfter inside a submodule option.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule { options.groups = mkOption { type = types.listOf types.str; default = [ ]; }; })); } { u.a.groups = mkAfter [ "z" ]; } { u.a.groups = [ "y" ]; } ]).u.a.groups
