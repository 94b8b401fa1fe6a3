# Nothing close: no suggestion, but the file is named.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.alpha = opt types.int; } { _file = "system.nix"; zzz = 1; } ]).alpha
