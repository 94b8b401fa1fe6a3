# Options may be defined from other options, in any module order.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ ({ config, ... }: { options.b = mkOption { type = types.int; default = config.a * 2; }; }) { options.a = opt types.int; } { a = 21; } ]).b
