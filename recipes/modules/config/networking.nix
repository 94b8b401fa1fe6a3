# networking: host name, /etc/hosts, static addresses and loopback, set up by a
# oneshot service; DHCP (networking.useDHCP, interfaces.<n>.useDHCP) through
# busybox's udhcpc, one client per interface, in the network-dhcp service.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types concatMapStrings mapAttrsToList escapeShellArg filterAttrs attrNames;
  cfg = config.networking;
  # Interfaces DHCP configures: those that ask for it, or with networking.useDHCP
  # every interface but lo and those that say no.
  dhcpOn = attrNames (filterAttrs (_: i: i.useDHCP == true) cfg.interfaces);
  dhcpOff = attrNames (filterAttrs (_: i: i.useDHCP == false) cfg.interfaces);
  dhcp = cfg.useDHCP || dhcpOn != [ ];
  # udhcpc's event script: $interface, $ip, $mask (prefix length), $router, $dns.
  # Only the lease's own IPv4 address is touched: static addresses of the
  # interface and its IPv6 link-local one stay, and a renewal that keeps the
  # address changes nothing.
  dhcpScript = pkgs.writeShellScript "udhcpc-event" ''
    state=/run/udhcpc.$interface
    case "$1" in
      deconfig)
        if [ -f "$state" ]; then ip -4 addr del "$(cat "$state")" dev "$interface" 2>/dev/null; rm -f "$state"; fi
        ip link set "$interface" up
        ;;
      bound|renew)
        new="$ip/''${mask:-24}"
        old=$(cat "$state" 2>/dev/null)
        if [ "$old" != "$new" ]; then
          [ -n "$old" ] && ip -4 addr del "$old" dev "$interface" 2>/dev/null
          ip addr add "$new" dev "$interface"
          echo "$new" > "$state"
        fi
        if [ -n "$router" ]; then
          for r in $router; do
            # `onlink`: a gateway outside the leased subnet (a /32 lease) is still next door.
            ip route replace default via "$r" dev "$interface" || ip route replace default via "$r" dev "$interface" onlink
            break
          done
        fi
        ${lib.optionalString (cfg.nameservers == [ ]) ''
          if [ -n "$dns" ]; then
            tmp=/etc/.resolv.conf.$interface
            : > "$tmp"
            [ -n "$domain" ] && echo "search $domain" >> "$tmp"
            for d in $dns; do echo "nameserver $d" >> "$tmp"; done
            mv "$tmp" /etc/resolv.conf
          fi
        ''}
        echo "dhcp: $interface is $new''${router:+ via $router}"
        ;;
    esac
  '';
  ifaceOptions = { name, ... }: {
    options.useDHCP = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "Whether DHCP configures this interface (null: as networking.useDHCP says).";
    };
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
    useDHCP = mkOption {
      type = types.bool;
      default = false;
      description = "Whether DHCP configures every interface but lo and those whose useDHCP is false (NixOS's default is true; b8g's images set their addresses or ask for DHCP).";
    };
  };
  config = {
    environment.etc.hostname.text = "${cfg.hostName}\n";
    # Protocol and service names (getprotobyname, getservbyname: nft, ss, inetd
    # configurations), from Debian's netbase as NixOS has them from iana-etc.
    environment.etc.protocols.source = "${pkgs.debian.netbase}/etc/protocols";
    environment.etc.services.source = "${pkgs.debian.netbase}/etc/services";
    environment.etc.hosts.text = "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 ${cfg.hostName}\n" + cfg.extraHosts;
    # With DHCP and no nameservers of its own, the DHCP client writes it.
    environment.etc."resolv.conf" = lib.mkIf (!dhcp || cfg.nameservers != [ ]) {
      text = concatMapStrings (n: "nameserver ${n}\n") cfg.nameservers;
    };
    systemd.services.network-dhcp = lib.mkIf dhcp {
      description = "DHCP clients (udhcpc)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network.target" ];
      after = [ "network-setup.service" ];
      before = [ "network-online.target" ];
      path = [ pkgs.busybox ];
      # One udhcpc in the foreground per interface; they stop with the service.
      script = ''
        ifaces=${escapeShellArg (toString dhcpOn)}
        ${lib.optionalString cfg.useDHCP ''
          for d in /sys/class/net/*; do
            i=''${d##*/}
            case " lo ${toString dhcpOff} $ifaces " in *" $i "*) continue ;; esac
            ifaces="$ifaces $i"
          done
        ''}
        for i in $ifaces; do
          udhcpc -f -i "$i" -s ${dhcpScript} -t 5 -T 3 -A 5 &
        done
        wait
      '';
      serviceConfig.Restart = "on-failure";
    };
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
