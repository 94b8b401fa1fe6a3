# A conflict inside attrsOf names the attribute and both files.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.m = opt (types.attrsOf types.str); } { _file = "one.nix"; m.host = "a"; } { _file = "two.nix"; m.host = "b"; } ]).m.host
