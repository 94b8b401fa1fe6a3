# Several close names are all suggested, best first.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.net.hostName = opt types.str; options.net.hostNames = opt types.str; options.net.nameservers = opt types.str; } { _file = "system.nix"; net.hostnme = "x"; } ]).net
