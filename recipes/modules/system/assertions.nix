# assertions and warnings: checked when the system toplevel is built.
{ lib, ... }:
{
  options.assertions = lib.mkOption {
    type = lib.types.listOf (lib.types.submodule {
      options.assertion = lib.mkOption { type = lib.types.bool; description = "Must hold."; };
      options.message = lib.mkOption { type = lib.types.str; description = "Shown when it does not."; };
    });
    default = [ ];
    internal = true;
    description = "Conditions the configuration must meet; the build fails listing those that do not.";
  };
  options.warnings = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    internal = true;
    description = "Messages printed when the system is built.";
  };
}
