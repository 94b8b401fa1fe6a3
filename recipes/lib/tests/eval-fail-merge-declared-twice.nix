# Two modules giving the same option a type is an error naming both.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { _file = "one.nix"; options.a = opt types.int; } { _file = "two.nix"; options.a = opt types.str; } ]).a
