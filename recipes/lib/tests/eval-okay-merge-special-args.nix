# specialArgs reach every module, and imports may use them.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(lib.evalModules { specialArgs = { flavour = "lean"; }; modules = [ ({ flavour, ... }: { options.f = mkOption { type = types.str; default = flavour; }; }) ({ flavour, ... }: { imports = if flavour == "lean" then [ { g = "yes"; } ] else [ ]; options.g = mkOption { type = types.str; default = "no"; }; }) ]; }).config // { _module = null; }
