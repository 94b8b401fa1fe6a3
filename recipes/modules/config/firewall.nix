# networking.firewall, as NixOS has it, on nftables (Debian's nft): incoming
# packets are dropped (or refused, rejectPackets) unless they belong to a
# connection this machine made, come from lo or a trusted interface, are ICMP
# (ping with allowPing), or go to an allowed port. Outgoing traffic is free.
# The rules are loaded by the firewall service before the network comes up and
# removed when it stops; a switch to a generation with other rules reloads them
# atomically. NixOS enables the firewall by default; b8g does not yet.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatStringsSep optionalString;
  cfg = config.networking.firewall;
  # nft's interface names: no quotes, spaces or a lone wildcard (a bad one would
  # fail the whole ruleset, and with it the firewall).
  ifname = types.strMatching "[A-Za-z0-9_.:@-]{1,15}[*]?";
  portRange = types.submodule {
    options.from = mkOption { type = types.port; description = "First port."; };
    options.to = mkOption { type = types.port; description = "Last port."; };
  };
  ports = proto: list: ranges:
    let all = map toString list ++ map (r: "${toString r.from}-${toString r.to}") ranges; in
    optionalString (all != [ ]) "    ${proto} dport { ${concatStringsSep ", " all} } accept\n";
  refuse = if cfg.rejectPackets then "reject" else "drop";
  # Declaring, deleting and defining the table in one file is one transaction:
  # a reload never leaves the machine open, and a first load finds a table to delete.
  ruleset = pkgs.writeText "firewall.nft" ''
    table inet b8g-firewall
    delete table inet b8g-firewall
    table inet b8g-firewall {
      chain input {
        type filter hook input priority filter; policy drop;
        iifname "lo" accept
        ct state vmap { invalid : drop, established : accept, related : accept }
    ${optionalString (cfg.trustedInterfaces != [ ]) "    iifname { ${concatStringsSep ", " (map (i: "\"${i}\"") cfg.trustedInterfaces)} } accept\n"
    }    # ICMPv6 neighbour discovery and the error messages PMTU discovery needs.
        icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept
        icmp type { destination-unreachable, time-exceeded, parameter-problem } accept
    ${optionalString cfg.allowPing "    icmp type echo-request accept\n    icmpv6 type echo-request accept\n"
    }${ports "tcp" cfg.allowedTCPPorts cfg.allowedTCPPortRanges}${ports "udp" cfg.allowedUDPPorts cfg.allowedUDPPortRanges}${
      optionalString cfg.logRefusedConnections "    tcp flags syn / fin,syn,rst,ack log prefix \"refused connection: \" level info\n"
    }    ${refuse}
      }
    }
  '';
in
{
  options.networking.firewall = {
    enable = mkEnableOption "the firewall (incoming traffic refused unless allowed)";
    package = mkOption { type = types.package; default = pkgs.debian.nftables; defaultText = lib.literalExpression "pkgs.debian.nftables"; description = "The package with sbin/nft."; };
    allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; example = [ 22 80 ]; description = "TCP ports open to everyone."; };
    allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; description = "UDP ports open to everyone."; };
    allowedTCPPortRanges = mkOption { type = types.listOf portRange; default = [ ]; description = "TCP port ranges open to everyone."; };
    allowedUDPPortRanges = mkOption { type = types.listOf portRange; default = [ ]; description = "UDP port ranges open to everyone."; };
    trustedInterfaces = mkOption { type = types.listOf ifname; default = [ ]; description = "Interfaces whose traffic is all accepted."; };
    allowPing = mkOption { type = types.bool; default = true; description = "Whether ICMP echo requests are answered."; };
    rejectPackets = mkOption { type = types.bool; default = false; description = "Whether refused packets get a refusal (TCP reset, ICMP unreachable) rather than silence."; };
    logRefusedConnections = mkOption { type = types.bool; default = true; description = "Whether refused TCP connection attempts are logged (kernel log)."; };
    ruleset = mkOption { type = types.package; readOnly = true; description = "The generated nftables ruleset."; };
  };
  config = mkIf cfg.enable {
    assertions = map (r: {
      assertion = r.from <= r.to;
      message = "networking.firewall: the port range ${toString r.from}-${toString r.to} is empty (from must not exceed to)";
    }) (cfg.allowedTCPPortRanges ++ cfg.allowedUDPPortRanges);
    networking.firewall.ruleset = ruleset;
    # A generation's kernel tree holds only the modules asked for (and what they
    # need): nftables with connection tracking, logging and, for refusals, reject.
    boot.kernelModules = [ "nf_tables" "nft_ct" ]
      ++ lib.optionals cfg.logRefusedConnections [ "nft_log" "nf_log_syslog" ]
      ++ lib.optional cfg.rejectPackets "nft_reject_inet";
    environment.systemPackages = [ cfg.package ];
    systemd.services.firewall = {
      description = "Firewall (nftables)";
      wantedBy = [ "multi-user.target" ];
      # Up before any interface is, so nothing slips in between; after
      # activation has loaded the modules.
      before = [ "network-pre.target" "network-setup.service" ];
      wants = [ "network-pre.target" ];
      # A new ruleset is loaded over the old one in one transaction (ExecReload):
      # a restart would delete the table first and leave the machine open
      # until the new one loads, or for good if it does not.
      reloadIfChanged = true;
      restartTriggers = [ ruleset ];
      path = [ cfg.package ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${cfg.package}/sbin/nft -f ${ruleset}";
        ExecReload = "${cfg.package}/sbin/nft -f ${ruleset}";
        ExecStop = "${cfg.package}/sbin/nft delete table inet b8g-firewall";
      };
    };
  };
}
