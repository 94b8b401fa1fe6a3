# Unit files rendered from systemd.services, with .wants links and the default target.
let
  sys = import ./system.nix [{
    services.getty.enable = false;
    systemd.services.hello = {
      description = "Says hello";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment.GREETING = "hello \"world\"";
      path = [ ];
      serviceConfig = { Type = "oneshot"; ExecStart = "/bin/echo hi"; RemainAfterExit = true; Restart = "no"; };
    };
  }];
in
{
  hello = sys.config.systemd.unitFiles."hello.service";
  multiUser = sys.config.systemd.unitFiles."multi-user.target";
  mounts = builtins.attrNames sys.config.systemd.mounts;
  fstab = sys.config.environment.etc.fstab.text;
}
