# systemd.tmpfiles.rules become /etc/tmpfiles.d/00-b8g.conf and a boot service;
# swapDevices become swap services before swap.target.
let
  sys = import ./system.nix [{
    systemd.tmpfiles.rules = [ "d /var/lib/app 0750 nobody nogroup -" "L+ /run/app-link - - - - /var/lib/app" ];
    swapDevices = [ { device = "/var/swapfile"; size = 64; priority = 5; } { label = "swap"; } ];
  }];
  c = sys.config;
  strip = builtins.unsafeDiscardStringContext;
  lines = u: builtins.filter (l: builtins.isString l && l != "" && builtins.match "(ExecStart|Environment)=.*" l == null) (builtins.split "\n" (strip u));
in
{
  conf = c.environment.etc."tmpfiles.d/00-b8g.conf".text;
  tmpfilesUnit = lines c.systemd.unitFiles."systemd-tmpfiles-setup.service";
  swapFile = lines c.systemd.unitFiles."swap-var-swapfile.service";
  swapLabel = lines c.systemd.unitFiles."swap-dev-disk-by\\x2dlabel-swap.service";
  sysinit = c.systemd.unitFiles."sysinit.target";
  swapScript = c.systemd.services."swap-var-swapfile".script;
  warnings = (import ./system.nix [{ swapDevices = [ { device = "/var/swapfile"; size = 64; priority = 5; } ]; }]).config.warnings;
  noRulesNoService = (import ./system.nix [ ]).config.systemd.services ? systemd-tmpfiles-setup;
}
