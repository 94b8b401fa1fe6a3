# The server modules as NixOS users write them: services.postgresql (initdb on
# the first start, ensureDatabases/ensureUsers applied after each, pg_hba.conf
# with the user's lines before the defaults), services.redis.servers (a
# password read at start, never in the store), services.chrony, networking.firewall
# (nftables ruleset from allowed ports; openssh opens its own) and DHCP.
let
  c = (import ./system.nix [{
    services.postgresql = {
      enable = true;
      # Names that are shell and SQL syntax stay names.
      ensureDatabases = [ "app" "it's" "a$(touch /tmp/pwned)\"b" ];
      ensureUsers = [ { name = "app"; ensureDBOwnership = true; ensureClauses.createdb = true; } ];
      authentication = "host app app 10.0.0.0/8 scram-sha-256";
      settings.max_connections = 50;
    };
    services.redis.servers."" = { enable = true; requirePassFile = "/run/keys/redis"; };
    services.redis.servers.cache = { enable = true; port = 6380; settings.maxmemory = "64mb"; };
    services.chrony = { enable = true; servers = [ "ntp.example.org" ]; };
    services.openssh.enable = true;
    networking.firewall = { enable = true; allowedTCPPorts = [ 80 ]; allowedUDPPortRanges = [ { from = 60000; to = 60010; } ]; };
    networking.useDHCP = true;
  }]).config;
  # Packages by role (a lock refresh changes their versions), other store paths by
  # name only, and no restart-trigger hashes: the .exp survives `b8g bootstrap lock`.
  packages = with c.services; [ postgresql.package redis.package chrony.package c.networking.firewall.package ];
  roles = [ "POSTGRESQL" "REDIS" "CHRONY" "NFTABLES" ];
  names = s: builtins.concatStringsSep "\n" (builtins.filter (l: builtins.isString l && builtins.match "X-Restart-Triggers=.*" l == null)
    (builtins.split "\n" (builtins.concatStringsSep "STORE/" (builtins.filter builtins.isString
      (builtins.split "/(nix|b8g)/store/[0-9a-z]{32}-"
        (builtins.replaceStrings (map toString packages) roles (builtins.unsafeDiscardStringContext s)))))));
  text = drv: (builtins.fromJSON drv.tree)."".text;
in
{
  postgresql = names c.systemd.unitFiles."postgresql.service";
  postgresqlPreStart = names c.systemd.services.postgresql.preStart;
  postgresqlPostStart = names c.systemd.services.postgresql.postStart;
  pgHba = c.services.postgresql.authentication;
  pgSettings = names (builtins.toJSON c.services.postgresql.settings);
  redisUnits = builtins.filter (n: builtins.match "redis.*" n != null) (builtins.attrNames c.systemd.services);
  redis = names c.systemd.unitFiles."redis.service";
  redisCacheUser = c.systemd.services.redis-cache.serviceConfig.User;
  chronyConf = names (text c.environment.etc."chrony/chrony.conf".source);
  chronyd = names c.systemd.unitFiles."chronyd.service";
  ruleset = text c.networking.firewall.ruleset;
  firewall = names c.systemd.unitFiles."firewall.service";
  firewallModules = c.boot.kernelModules;
  dhcp = names c.systemd.services.network-dhcp.script;
  resolvConfFromDhcp = !(c.environment.etc ? "resolv.conf") || !c.environment.etc."resolv.conf".enable;
}
