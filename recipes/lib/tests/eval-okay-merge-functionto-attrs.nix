# functionTo of attrsOf merges attribute sets per call.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { options.f = opt (types.functionTo (types.attrsOf types.str)); } { f = n: { a = n; }; } { f = n: { b = n + "!"; }; } ]).f "hi"
