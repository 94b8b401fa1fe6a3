# A value of none of oneOf's types is an error naming them all.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.a = opt (types.oneOf [ types.bool types.int ]); } { _file = "a.nix"; a = "x"; } ]).a
