# boot.kernel / boot.initrd: which kernel, its command line, and the modules stage 1 loads.
{ config, lib, pkgs, ... }:
let inherit (lib) mkOption types escapeShellArgs;
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
  # What the system keeps of the kernel package: the image and the modules it
  # loads after stage 1, with a modules.dep (built by `builtin:b8g-kernel`).
  config.system.build.kernel = derivation {
    name = "kernel-${config.system.name}";
    system = "builtin";
    builder = "builtin:b8g-kernel";
    kernel = config.boot.kernel.package;
    modules = lib.concatStringsSep " " (lib.unique config.boot.kernelModules);
    preferLocalBuild = true;
  };
  # After stage 1: /lib/modules is this generation's, the kernel asks busybox's
  # modprobe for what it needs (file systems' code pages, say), and
  # boot.kernelModules are loaded.
  config.system.activationScripts.kernel-modules = {
    deps = [ "current-system" ];
    text = ''
      mkdir -p /lib
      ln -sfn /run/current-system/kernel-modules /lib/.modules.tmp && mv -T /lib/.modules.tmp /lib/modules
      if [ -w /proc/sys/kernel/modprobe ]; then echo ${pkgs.busybox}/bin/modprobe > /proc/sys/kernel/modprobe; fi
      for m in ${escapeShellArgs config.boot.kernelModules}; do
        modprobe "$m" || echo "activate: cannot load kernel module $m" >&2
      done
    '';
  };
}
