# environment.systemPackages: one merged profile, /run/current-system/sw.
{ config, lib, pkgs, ... }:
{
  options.environment.systemPackages = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Packages whose files appear in the system profile (`sw`).";
  };
  config.system.build.sw = pkgs.symlinkJoin { name = "system-path"; paths = config.environment.systemPackages; };
  # b8gctl (and b8g) on every system's PATH, as NixOS puts systemctl there.
  config.environment.systemPackages = [ pkgs.b8g ];
}
