# Definitions of both sides of an either cannot merge.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt (types.either types.int types.str); } { _file = "a.nix"; x = 1; } { _file = "b.nix"; x = "one"; } ]).x
