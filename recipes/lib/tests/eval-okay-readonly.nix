# A read-only option takes its default, or one definition at the winning priority.
let
  lib = import ../.;
  eval = defs: (lib.evalModules { modules = [
    { options.version = lib.mkOption { type = lib.types.str; readOnly = true; default = "1"; }; }
  ] ++ defs; }).config.version;
in
{
  default = eval [ ];
  one = eval [ { version = "2"; } ];
  forced = eval [ { version = "2"; } { version = lib.mkForce "3"; } ];
}
