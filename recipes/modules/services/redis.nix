# services.redis.servers.<name>, as NixOS has it: Debian's redis-server
# (`pkgs.debian.redis-server`), one b8g-init service per server (`redis` for the
# name "", else `redis-<name>`), as its own user, with state in
# /var/lib/<service> and the socket-less TCP listener on `bind`:`port`.
# A password comes from requirePassFile at start, so it never enters the store.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatStringsSep mapAttrsToList optionalString filterAttrs mapAttrs' nameValuePair;
  cfg = config.services.redis;
  enabled = filterAttrs (_: s: s.enable) cfg.servers;
  unitName = name: if name == "" then "redis" else "redis-${name}";
  # redis.conf splits arguments as a shell would: an empty or spaced string is quoted.
  quote = s: if s == "" || builtins.match ".*[ \"].*" s != null
    then "\"${builtins.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] s}\"" else s;
  render = v: if builtins.isBool v then (if v then "yes" else "no")
    else if builtins.isList v then concatStringsSep " " (map (x: quote (toString x)) v)
    else quote (toString v);
  serverOptions = { name, config, ... }: {
    options = {
      enable = mkEnableOption "this Redis server";
      port = mkOption { type = types.port; default = if name == "" then 6379 else 0; description = "TCP port (0: none)."; };
      bind = mkOption { type = types.nullOr types.str; default = "127.0.0.1"; description = "Addresses to listen on, space-separated (null: all)."; };
      user = mkOption { type = types.str; default = unitName name; description = "The user the server runs as (made when it is the default)."; };
      databases = mkOption { type = types.ints.positive; default = 16; description = "Number of databases."; };
      appendOnly = mkOption { type = types.bool; default = false; description = "Whether every write is logged to the append-only file."; };
      save = mkOption { type = types.listOf (types.listOf types.ints.unsigned); default = [ [ 900 1 ] [ 300 10 ] [ 60 10000 ] ]; description = "Snapshots: after N seconds if M keys changed."; };
      requirePassFile = mkOption { type = types.nullOr types.path; default = null; description = "A file holding the password clients must give (read at start, not copied into the store)."; };
      settings = mkOption {
        type = types.attrsOf (types.oneOf [ types.bool types.int types.str (types.listOf types.str) ]);
        default = { };
        description = "redis.conf settings by name.";
      };
    };
    config.settings = lib.mapAttrs (_: lib.mkDefault) ({
      inherit (config) port databases;
      dir = "/var/lib/${unitName name}";
      appendonly = config.appendOnly;
      # b8g-init is told when it is ready (sd_notify).
      supervised = "systemd";
      daemonize = false;
      logfile = "";
      save = if config.save == [ ] then "" else map (s: "${toString (builtins.elemAt s 0)} ${toString (builtins.elemAt s 1)}") config.save;
    } // lib.optionalAttrs (config.bind != null) { inherit (config) bind; });
  };
  confFile = name: s: pkgs.writeText "${unitName name}.conf" (concatStringsSep "\n"
    (lib.concatLists (mapAttrsToList (k: v:
      if k == "save" && builtins.isList v then map (x: "save ${x}") v else [ "${k} ${render v}" ]) s.settings)) + "\n");
in
{
  options.services.redis = {
    package = mkOption { type = types.package; default = pkgs.debian.redis-server; defaultText = lib.literalExpression "pkgs.debian.redis-server"; description = "The package with bin/redis-server."; };
    servers = mkOption { type = types.attrsOf (types.submodule serverOptions); default = { }; description = "Redis servers by name (\"\" is the service `redis`)."; };
  };
  config = mkIf (enabled != { }) {
    environment.systemPackages = [ cfg.package ];
    users.users = mapAttrs' (name: s: nameValuePair s.user { isSystemUser = true; group = s.user; description = "Redis server ${name}"; }) enabled;
    users.groups = mapAttrs' (name: s: nameValuePair s.user { }) enabled;
    systemd.services = mapAttrs' (name: s: nameValuePair (unitName name) {
      description = "Redis server" + lib.optionalString (name != "") " ${name}";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      restartTriggers = [ (confFile name s) ];
      serviceConfig = {
        Type = "notify";
        User = s.user;
        Group = s.user;
        # The store's file, plus the password read at start (never in the store).
        ExecStartPre = "+${pkgs.writeShellScript "${unitName name}-config" ''
          umask 077
          cat ${confFile name s} > /run/${unitName name}/redis.conf
          ${optionalString (s.requirePassFile != null) ''
            printf 'requirepass "%s"\n' "$(cat ${s.requirePassFile})" >> /run/${unitName name}/redis.conf
          ''}
          chown ${s.user}:${s.user} /run/${unitName name}/redis.conf
        ''}";
        ExecStart = "${cfg.package}/bin/redis-server /run/${unitName name}/redis.conf";
        StateDirectory = unitName name;
        StateDirectoryMode = "0700";
        RuntimeDirectory = unitName name;
        RuntimeDirectoryMode = "0750";
        LimitNOFILE = 10032;
        TimeoutStopSec = 90;
      };
    }) enabled;
  };
}
