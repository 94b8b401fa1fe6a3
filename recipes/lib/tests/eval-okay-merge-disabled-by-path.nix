# disabledModules removes an imported file, by path or by file name.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let e = m: (eval ([ { options.l = opt (types.listOf types.str); } { imports = [ ./module-fragment.nix ]; l = [ "main" ]; } ] ++ m)).l; in [ (e [ ]) (e [ { disabledModules = [ ./module-fragment.nix ]; } ]) (e [ { disabledModules = [ "module-fragment.nix" ]; } ]) ]
