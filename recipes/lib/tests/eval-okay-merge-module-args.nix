# _module.args passes arguments modules ask for.
let
  lib = import ../.;
  inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce mkOverride mkOptionDefault mkBefore mkAfter mkOrder;
  eval = modules: (lib.evalModules { inherit modules; }).config;
  opt = type: mkOption { inherit type; };
in
(eval [ { config._module.args.greeting = "hi"; options.x = opt types.str; } ({ greeting, ... }: { x = greeting + "!"; }) ]).x
