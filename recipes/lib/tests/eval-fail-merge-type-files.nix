# A type mismatch names the option, the type and every file that defines it.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.enable = opt types.bool; } { _file = "a.nix"; enable = true; } { _file = "b.nix"; enable = "yes"; } ]).enable
