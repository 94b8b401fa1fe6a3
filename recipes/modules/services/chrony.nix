# services.chrony, as NixOS has it: Debian's chronyd (`pkgs.debian.chrony`)
# keeping the clock from networking.timeServers, run in the foreground by
# b8g-init; it drops root for user _chrony once it holds the clock capability.
# State (drift, keys) in /var/lib/chrony; chronyc talks to /run/chrony.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatMapStrings;
  cfg = config.services.chrony;
  configFile = pkgs.writeText "chrony.conf" ''
    ${concatMapStrings (s: "server ${s} ${cfg.serverOption}\n") cfg.servers}
    driftfile /var/lib/chrony/chrony.drift
    dumpdir /var/lib/chrony
    ntsdumpdir /var/lib/chrony
    bindcmdaddress /run/chrony/chronyd.sock
    pidfile /run/chrony/chronyd.pid
    # Step the clock at start when it is far off, as Debian's configuration does.
    makestep 1 3
    rtcsync
    ${cfg.extraConfig}
  '';
in
{
  options.networking.timeServers = mkOption {
    type = types.listOf types.str;
    default = [ "0.debian.pool.ntp.org" "1.debian.pool.ntp.org" "2.debian.pool.ntp.org" "3.debian.pool.ntp.org" ];
    description = "NTP servers the machine keeps its clock from.";
  };
  options.services.chrony = {
    enable = mkEnableOption "chronyd, keeping the clock with NTP";
    package = mkOption { type = types.package; default = pkgs.debian.chrony; defaultText = lib.literalExpression "pkgs.debian.chrony"; description = "The package with sbin/chronyd and bin/chronyc."; };
    servers = mkOption { type = types.listOf types.str; default = config.networking.timeServers; defaultText = lib.literalExpression "config.networking.timeServers"; description = "NTP servers."; };
    serverOption = mkOption { type = types.enum [ "iburst" "offline" ]; default = "iburst"; description = "How servers are used at start (iburst: a quick first burst)."; };
    extraConfig = mkOption { type = types.lines; default = ""; description = "More chrony.conf lines."; };
  };
  config = mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];
    environment.etc."chrony/chrony.conf".source = configFile;
    users.users._chrony = { isSystemUser = true; group = "_chrony"; home = "/var/lib/chrony"; description = "chrony daemon"; };
    users.groups._chrony = { };
    systemd.services.chronyd = {
      description = "chrony NTP daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      conflicts = [ "systemd-timesyncd.service" ];
      restartTriggers = [ configFile ];
      serviceConfig = {
        Type = "simple";
        # chronyd writes its drift file and socket after it dropped to _chrony.
        ExecStartPre = "${pkgs.busybox}/bin/chown _chrony:_chrony /var/lib/chrony /run/chrony";
        ExecStart = "${cfg.package}/sbin/chronyd -n -u _chrony -f /etc/chrony/chrony.conf";
        StateDirectory = "chrony";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "chrony";
        RuntimeDirectoryMode = "0750";
        Restart = "on-failure";
      };
    };
  };
}
