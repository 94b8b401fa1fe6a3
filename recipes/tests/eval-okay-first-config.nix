# Options of a NixOS user's first configuration: time.timeZone, environment.variables,
# environment.shellAliases, systemd.services.<n>.startAt, system.stateVersion.
let
  pkgs = import ./fake-pkgs.nix;
  sys = import ./system.nix [{
    time.timeZone = "Europe/Berlin";
    environment.variables = { EDITOR = "vi"; XDG_DATA_DIRS = [ "/a" "/b" ]; };
    environment.shellAliases = { ll = "ls -la"; l = null; gs = "git status 'x'"; };
    systemd.services.backup = { script = "echo backing up"; startAt = "*-*-* 04:00:00"; };
    systemd.services.twice = { script = "true"; startAt = [ "Mon" "Fri 12:00" ]; };
    system.stateVersion = "24.05";
  }];
  c = sys.config;
  strip = builtins.unsafeDiscardStringContext;
  tree = builtins.fromJSON (strip c.system.build.toplevel.tree);
in
{
  zoneinfo = strip c.environment.etc.zoneinfo.source == "${strip "${pkgs.tzdata}"}/share/zoneinfo";
  timezone = c.environment.etc.timezone.source.zone;
  localtime = c.system.activationScripts.timezone.text;
  setEnvironment = c.environment.etc."set-environment".text;
  profile = c.environment.etc.profile.text;
  backupTimer = c.systemd.unitFiles."backup.timer";
  twiceTimer = c.systemd.unitFiles."twice.timer";
  timersWanted = builtins.filter (n: builtins.match "timers.target.wants/.*" n != null) (builtins.attrNames (builtins.fromJSON (strip c.system.build.units.tree)));
  stateVersion = tree.state-version.text;
  noTimeZone = (import ./system.nix [ ]).config.system.activationScripts.timezone.text;
}
