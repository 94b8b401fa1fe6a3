# environment.systemPackages: one merged profile, /run/current-system/sw.
{ config, lib, pkgs, ... }:
{
  options.environment.systemPackages = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Packages whose files appear in the system profile (`sw`).";
  };
  config.system.build.sw = pkgs.symlinkJoin { name = "system-path"; paths = config.environment.systemPackages; };
}
