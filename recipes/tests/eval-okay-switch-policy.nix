# restartIfChanged/reloadIfChanged become X-RestartIfChanged/X-ReloadIfChanged for
# `b8g system switch`; systemd.paths renders path units.
let
  sys = import ./system.nix [{
    systemd.services.keep = { restartIfChanged = false; serviceConfig.ExecStart = "/bin/sleep 9"; };
    systemd.services.web = { reloadIfChanged = true; serviceConfig.ExecStart = "/bin/httpd"; };
    systemd.paths.spool = {
      wantedBy = [ "paths.target" ];
      pathConfig = { DirectoryNotEmpty = "/var/spool/in"; MakeDirectory = true; };
    };
  }];
  u = sys.config.systemd.unitFiles;
in
{
  keep = u."keep.service";
  web = u."web.service";
  spool = u."spool.path";
  getty = builtins.match ".*(X-RestartIfChanged=no).*" u."getty-ttyS0.service";
}
