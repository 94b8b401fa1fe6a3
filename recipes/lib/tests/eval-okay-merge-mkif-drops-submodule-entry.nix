# mkIf false on an attrsOf submodule entry removes the entry.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.u = opt (types.attrsOf (types.submodule { options.uid = mkOption { type = types.int; default = 0; }; })); } { u.alice.uid = 1; u.bob = mkIf false { uid = 2; }; } ]).u
