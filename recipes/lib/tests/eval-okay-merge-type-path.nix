# A path option takes paths and absolute strings.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = eval [ { options.a = opt types.path; options.b = opt types.path; } { a = "/etc/x"; b = /tmp; } ]; in [ e.a (builtins.isPath e.b) ]
