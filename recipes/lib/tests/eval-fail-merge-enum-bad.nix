# enum names the allowed values.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.x = opt (types.enum [ "erofs" "ext4" ]); } { _file = "fs.nix"; x = "btrfs"; } ]).x
