# fileSystems: the root and boot-time file systems are mounted by stage 1; the
# rest become mount units for b8g-init.
{ config, lib, ... }:
let
  inherit (lib) mkOption types filterAttrs mapAttrs' nameValuePair concatStringsSep;
  unitLib = import ../system/unit-lib.nix { inherit lib; };
  fsOptions = { name, config, ... }: {
    options = {
      mountPoint = mkOption { type = types.str; default = name; description = "Where to mount."; };
      device = mkOption { type = types.str; description = "Device, label (`/dev/disk/by-label/...`) or pseudo file system name."; };
      fsType = mkOption { type = types.str; default = "auto"; description = "File system type."; };
      options = mkOption { type = types.listOf types.str; default = [ "defaults" ]; description = "Mount options."; };
      neededForBoot = mkOption { type = types.bool; default = config.mountPoint == "/"; description = "Mounted by stage 1 before b8g-init starts."; };
    };
  };
  cfg = config.fileSystems;
  late = filterAttrs (_: f: !f.neededForBoot) cfg;
in
{
  options.fileSystems = mkOption {
    type = types.attrsOf (types.submodule fsOptions);
    default = { };
    description = "File systems to mount, by mount point.";
  };
  options.boot.initrd.fileSystems = mkOption {
    type = types.listOf types.attrs;
    readOnly = true;
    description = "The file systems stage 1 mounts, root first (for the initrd builder).";
  };
  config = {
    assertions = [{ assertion = cfg ? "/"; message = "fileSystems.\"/\" must be set: the system needs a root file system."; }];
    boot.initrd.fileSystems = lib.sortOn (f: builtins.stringLength f.mountPoint)
      (map (f: { inherit (f) mountPoint device fsType options; }) (builtins.attrValues (filterAttrs (_: f: f.neededForBoot) cfg)));
    environment.etc.fstab.text = lib.concatMapStrings
      (f: "${f.device} ${f.mountPoint} ${f.fsType} ${concatStringsSep "," f.options} 0 0\n")
      (lib.sortOn (f: f.mountPoint) (builtins.attrValues cfg));
    systemd.mounts = mapAttrs' (_: f: nameValuePair (unitLib.escapePath f.mountPoint) {
      description = "Mount ${f.mountPoint}";
      # As systemd-fstab-generator: local-fs.target requires the mount (a failed
      # mount fails it, and b8g-init then does not report the boot ready), unless
      # the options say `nofail`.
      wantedBy = lib.optional (builtins.elem "nofail" f.options) "local-fs.target";
      requiredBy = lib.optional (!builtins.elem "nofail" f.options) "local-fs.target";
      before = [ "local-fs.target" ];
      mountConfig = { What = f.device; Where = f.mountPoint; Type = f.fsType; Options = concatStringsSep "," f.options; };
    }) late;
  };
}
