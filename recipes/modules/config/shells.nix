# Login shells: /etc/profile, which busybox ash and bash read when started as login
# shells (busybox login, `su -l`, the autologin getty). busybox login and su set PATH to
# /bin:/usr/bin (with the sbins for root), none of which a b8g system has; the system
# profile (`environment.systemPackages`, /run/current-system/sw) takes its place, as in
# NixOS.
{ config, lib, ... }:
{
  options.environment.loginShellInit = lib.mkOption {
    type = lib.types.lines;
    default = "";
    description = "Shell commands run by login shells (appended to /etc/profile).";
  };
  config.environment.etc.profile.text = ''
    # /etc/profile: written by b8g (recipes/modules/config/shells.nix).
    export PATH=/run/current-system/sw/bin:/run/current-system/sw/sbin
    ${config.environment.loginShellInit}
  '';
}
