# boot.kernel / boot.initrd: which kernel, its command line, and the modules stage 1 loads.
{ config, lib, ... }:
let inherit (lib) mkOption types;
in
{
  options.boot = {
    kernel.package = mkOption {
      type = types.package;
      description = "The kernel: a package with `vmlinuz` and `lib/modules/<version>/`.";
    };
    kernelParams = mkOption { type = types.listOf types.str; default = [ ]; description = "Extra kernel command line parameters."; };
    kernelModules = mkOption { type = types.listOf types.str; default = [ ]; description = "Modules loaded after stage 1, at activation."; };
    initrd.kernelModules = mkOption { type = types.listOf types.str; default = [ ]; description = "Modules stage 1 always loads (with their dependencies)."; };
    initrd.availableKernelModules = mkOption { type = types.listOf types.str; default = [ ]; description = "Modules stage 1 carries and loads when present hardware needs them."; };
    initrd.package = mkOption { type = types.nullOr types.package; default = null; description = "The stage-1 initramfs; built by the boot adapter when null."; };
    bootTries = mkOption { type = types.ints.positive; default = 3; description = "Boots a new generation gets before stage 1 falls back to the last good one."; };
  };
}
