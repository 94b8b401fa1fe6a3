# system.healthChecks: commands go into the health script, units become --unit arguments.
let
  sys = import ./system.nix [{
    services.getty.enable = false;
    system.healthChecks = [ "true" { unit = "nginx.service"; } { unit = "db.service"; } ];
  }];
  exec = sys.config.systemd.services.b8g-boot-check.serviceConfig.ExecStart;
in
builtins.match ".*boot-check --health /[^ ]*-health-checks( .*)" exec
