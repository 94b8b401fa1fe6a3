# mkIf inside mkMerge inside mkIf.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.a = mkOption { type = types.int; default = 0; }; options.b = mkOption { type = types.int; default = 0; }; } { config = mkIf true (mkMerge [ { a = 1; } (mkIf false { b = 2; }) ]); } ]) // { }
