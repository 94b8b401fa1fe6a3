# boot.loader: how a machine's firmware reaches the generations. Off by
# default: images boot by qemu's direct kernel boot and stage 1 picks the
# generation. `b8g install` turns systemd-boot on; the generation then carries
# the loader (`<toplevel>/systemd-boot`) and `b8g install`/`b8g system` write
# one Boot Loader Specification entry per generation onto the EFI system
# partition.
{ config, lib, pkgs, ... }:
let inherit (lib) mkOption types;
in
{
  options.boot.loader = {
    systemd-boot.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Boot through systemd-boot (UEFI), with an entry per generation on the EFI system partition.";
    };
    timeout = mkOption {
      type = types.ints.unsigned;
      default = 3;
      description = "Seconds the boot menu waits before booting the default entry (0: only when a key is held).";
    };
  };
  # Through a loader, a kernel panic must end in a reboot for the loader to count
  # the try and fall back by itself; first, so a `panic=` of the configuration's wins.
  config.boot.kernelParams = lib.mkIf config.boot.loader.systemd-boot.enable (lib.mkBefore [ "panic=10" ]);
}
