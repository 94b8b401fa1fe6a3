# environment.systemPackages: one merged profile, /run/current-system/sw.
{ config, lib, pkgs, ... }:
let
  # b8gctl answers to systemctl's name with systemctl's verbs and exit codes (b8gctl --help),
  # and to journalctl's with the per-unit logs b8g-init keeps (journalctl --help).
  systemctl = pkgs.b8gTree "b8g-systemctl" {
    "bin/systemctl" = { type = "symlink"; target = "${pkgs.b8g}/bin/b8gctl"; };
    "bin/journalctl" = { type = "symlink"; target = "${pkgs.b8g}/bin/b8gctl"; };
  };
in
{
  options.environment.systemPackages = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Packages whose files appear in the system profile (`sw`).";
  };
  config.system.build.sw = pkgs.symlinkJoin { name = "system-path"; paths = config.environment.systemPackages; };
  # b8gctl (and b8g) on every system's PATH, as NixOS puts systemctl there.
  config.environment.systemPackages = [ pkgs.b8g systemctl ];
}
