# A submodule definition may read the outer config.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.base = opt types.str; options.s = opt (types.submodule { options.p = opt types.str; }); } ({ config, ... }: { s.p = config.base + "/x"; }) { base = "/srv"; } ]).s.p
