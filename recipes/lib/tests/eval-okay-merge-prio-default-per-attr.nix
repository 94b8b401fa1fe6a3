# mkDefault on a whole attrsOf value is one definition: any plain one drops all of it (as in NixOS); mkDefault per attribute is overridden attribute by attribute.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
[ (eval [ { options.m = opt (types.attrsOf types.int); } { m = mkDefault { a = 1; b = 2; }; } { m.b = 3; } ]).m (eval [ { options.m = opt (types.attrsOf types.int); } { m = { a = mkDefault 1; b = mkDefault 2; }; } { m.b = 3; } ]).m ]
