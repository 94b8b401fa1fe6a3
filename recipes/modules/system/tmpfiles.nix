# systemd.tmpfiles.rules, as in NixOS: /etc/tmpfiles.d/00-b8g.conf, applied at boot
# by systemd-tmpfiles-setup.service (after the local file systems, before
# sysinit.target) with b8g's own interpreter of the rules (tmpfiles.sh: the
# types NixOS configurations use; b8g-init has no systemd-tmpfiles). A switch
# that changes the rules restarts the service, so they apply then too.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types mkIf;
  rules = config.systemd.tmpfiles.rules;
  tmpfiles = pkgs.writeScript "b8g-tmpfiles" "#!${pkgs.runtimeShell}\n${builtins.readFile ./tmpfiles.sh}";
in
{
  options.systemd.tmpfiles.rules = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "d /var/lib/app 0750 app app -" "L+ /etc/foo - - - - /run/foo" ];
    description = "tmpfiles.d(5) lines, applied at boot and when they change: types d D f f+ w w+ L L+ z Z r R e (no ages, no specifiers).";
  };
  config = mkIf (rules != [ ]) {
    environment.etc."tmpfiles.d/00-b8g.conf".text = ''
      # Written by b8g from systemd.tmpfiles.rules.
    '' + lib.concatMapStrings (r: "${r}\n") rules;
    systemd.services.systemd-tmpfiles-setup = {
      description = "Create Volatile Files and Directories";
      wantedBy = [ "sysinit.target" ];
      after = [ "local-fs.target" ];
      before = [ "sysinit.target" ];
      unitConfig.DefaultDependencies = false;
      path = [ pkgs.busybox ];
      restartTriggers = [ rules ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${tmpfiles} --boot /etc/tmpfiles.d";
      };
    };
  };
}
