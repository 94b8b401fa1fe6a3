# The shorthand and the options/config form merge alike.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.a = opt (types.listOf types.int); } { a = [ 1 ]; } { config.a = [ 2 ]; } { config = { a = [ 3 ]; }; options = { }; } ]).a
