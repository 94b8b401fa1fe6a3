# swapDevices, as in NixOS: partitions or files used as swap. A file with `size`
# is made (and remade when its size changed) before swapon. b8g-init has no
# .swap units: each device is a oneshot `swap-<escaped path>.service` before
# swap.target (which sysinit.target wants), swapped off when it stops.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types escapeShellArg optionalString;
  unitLib = import ../system/unit-lib.nix { inherit lib; };
  swapOptions = { config, ... }: {
    options = {
      device = mkOption { type = types.str; example = "/var/swapfile"; description = "Path of the swap partition or file."; };
      label = mkOption { type = types.nullOr types.str; default = null; description = "Label of the swap partition (sets device to /dev/disk/by-label/<label>)."; };
      size = mkOption { type = types.nullOr types.int; default = null; example = 2048; description = "Size in MiB of a swap file to create at `device`; null uses an existing partition or file."; };
      priority = mkOption { type = types.nullOr (types.ints.between 0 32767); default = null; description = "Swap priority. Accepted from NixOS configurations but not applied: busybox's swapon, the only one b8g has, cannot set it (a warning says so); the kernel's order is used."; };
    };
    config.device = lib.mkIf (config.label != null) "/dev/disk/by-label/${config.label}";
  };
  unitName = d: "swap-${unitLib.escapePath d.device}";
  start = d: ''
    ${optionalString (d.size != null) ''
      want=$((${toString d.size} * 1024 * 1024))
      if [ ! -f ${escapeShellArg d.device} ] || [ "$(stat -c %s ${escapeShellArg d.device})" != "$want" ]; then
        swapoff ${escapeShellArg d.device} 2>/dev/null || true
        rm -f ${escapeShellArg d.device}
        mkdir -p "$(dirname ${escapeShellArg d.device})"
        (umask 077 && dd if=/dev/zero of=${escapeShellArg d.device} bs=1M count=${toString d.size})
        mkswap ${escapeShellArg d.device}
      fi
    ''}
    swapon ${escapeShellArg d.device}
  '';
in
{
  options.swapDevices = mkOption {
    type = types.listOf (types.submodule swapOptions);
    default = [ ];
    example = [ { device = "/var/swapfile"; size = 1024; } { label = "swap"; } ];
    description = "Swap partitions and files, swapped on at boot.";
  };
  config = {
    warnings = map (d: "swapDevices: the priority of ${d.device} is not applied (busybox's swapon cannot set one)")
      (builtins.filter (d: d.priority != null) config.swapDevices);
    systemd.services = builtins.listToAttrs (map (d: {
      name = unitName d;
      value = {
        description = "Swap on ${d.device}";
        wantedBy = [ "swap.target" ];
        before = [ "swap.target" ];
        after = [ "local-fs.target" ];
        unitConfig.DefaultDependencies = false;
        path = [ pkgs.busybox ];
        script = start d;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStop = "${pkgs.busybox}/bin/swapoff ${d.device}";
        };
      };
    }) config.swapDevices);
  };
}
