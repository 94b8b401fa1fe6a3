# lazyAttrsOf keeps a name whose definitions are all conditioned away; using it fails.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
let m = (eval [ { options.m = opt (types.lazyAttrsOf types.int); } { m = { a = 1; b = mkIf false 2; }; } ]).m; in [ (builtins.attrNames m) (builtins.tryEval m.b).success ]
