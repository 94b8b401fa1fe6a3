# system.healthChecks: commands go into the health script, units become --unit arguments.
let
  sys = import ../eval-config.nix {
    pkgs = import ./fake-pkgs.nix;
    modules = [{
      fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
      boot.kernel.package = (import ./fake-pkgs.nix).linux;
      services.getty.enable = false;
      system.healthChecks = [ "true" { unit = "nginx.service"; } { unit = "db.service"; } ];
    }];
  };
  exec = sys.config.systemd.services.b8g-boot-check.serviceConfig.ExecStart;
in
builtins.match ".*boot-check --health /[^ ]*-health-checks( .*)" exec
