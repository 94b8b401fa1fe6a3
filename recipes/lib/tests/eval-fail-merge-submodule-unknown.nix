# An undeclared option inside a submodule names its full path and suggests the close one.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule { options.hashedPassword = mkOption { type = types.nullOr types.str; default = null; }; })); } { _file = "users.nix"; u.alice.hashedPasword = "x"; } ]).u.alice
