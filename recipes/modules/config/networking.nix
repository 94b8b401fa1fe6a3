# networking: host name, /etc/hosts, static addresses and loopback, set up by a oneshot service.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types concatMapStrings mapAttrsToList escapeShellArg;
  cfg = config.networking;
  ifaceOptions = { name, ... }: {
    options.ipv4.addresses = mkOption {
      type = types.listOf (types.submodule {
        options.address = mkOption { type = types.str; description = "IPv4 address."; };
        options.prefixLength = mkOption { type = types.ints.between 0 32; description = "Prefix length."; };
      });
      default = [ ];
      description = "Static IPv4 addresses of the interface.";
    };
  };
in
{
  options.networking = {
    hostName = mkOption { type = types.strMatching "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"; default = "b8g"; description = "The host name."; };
    interfaces = mkOption { type = types.attrsOf (types.submodule ifaceOptions); default = { }; description = "Network interfaces."; };
    defaultGateway = mkOption { type = types.nullOr types.str; default = null; description = "IPv4 default gateway."; };
    nameservers = mkOption { type = types.listOf types.str; default = [ ]; description = "DNS servers for /etc/resolv.conf."; };
    extraHosts = mkOption { type = types.lines; default = ""; description = "Extra lines for /etc/hosts."; };
  };
  config = {
    environment.etc.hostname.text = "${cfg.hostName}\n";
    environment.etc.hosts.text = "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 ${cfg.hostName}\n" + cfg.extraHosts;
    environment.etc."resolv.conf".text = concatMapStrings (n: "nameserver ${n}\n") cfg.nameservers;
    systemd.services.network-setup = {
      description = "Network interfaces";
      # Also wanted by multi-user.target: nothing else pulls network.target in.
      wantedBy = [ "network.target" "multi-user.target" ];
      before = [ "network.target" ];
      wants = [ "network-pre.target" ];
      after = [ "network-pre.target" ];
      path = [ pkgs.busybox ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
      script = ''
        ip link set lo up
      '' + lib.concatStrings (mapAttrsToList (name: i: ''
        ip link set ${escapeShellArg name} up
      '' + concatMapStrings (a: ''
        ip addr add ${a.address}/${toString a.prefixLength} dev ${escapeShellArg name}
      '') i.ipv4.addresses) cfg.interfaces) + lib.optionalString (cfg.defaultGateway != null) ''
        ip route add default via ${cfg.defaultGateway}
      '';
    };
  };
}
