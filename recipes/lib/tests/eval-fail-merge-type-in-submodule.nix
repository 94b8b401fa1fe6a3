# A type mismatch inside a submodule names the full path.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule { options.uid = opt types.int; })); } { _file = "users.nix"; u.alice.uid = "1000"; } ]).u.alice.uid
