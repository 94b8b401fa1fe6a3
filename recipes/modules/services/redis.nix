# services.redis.servers.<name>, as NixOS has it: Debian's redis-server
# (`pkgs.debian.redis-server`), one b8g-init service per server (`redis` for the
# name "", else `redis-<name>`), as its own user, with state in
# /var/lib/<service> and the socket-less TCP listener on `bind`:`port`.
# A password comes from requirePassFile at start (given as a string, it never
# enters the store).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatStringsSep mapAttrsToList optionalString filterAttrs mapAttrs' nameValuePair;
  cfg = config.services.redis;
  enabled = filterAttrs (_: s: s.enable) cfg.servers;
  unitName = name: if name == "" then "redis" else "redis-${name}";
  # redis.conf splits its lines as a shell would: every value is double-quoted
  # with its backslashes and quotes escaped; a line break cannot be written.
  quote = s:
    if builtins.match ".*[\n\r].*" s != null then throw "services.redis: a setting value holds a line break: ${s}"
    else "\"${builtins.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] s}\"";
  render = v: if builtins.isBool v then (if v then "yes" else "no") else quote (toString v);
  # A list is the setting repeated, one value a line (save, loadmodule, …), as NixOS writes it.
  lines = k: v: if builtins.isList v then map (x: "${k} ${render x}") v else [ "${k} ${render v}" ];
  serverOptions = { name, config, ... }: {
    options = {
      enable = mkEnableOption "this Redis server";
      port = mkOption { type = types.port; default = if name == "" then 6379 else 0; description = "TCP port (0: none, as for every server but the one named \"\")."; };
      unixSocket = mkOption { type = types.nullOr types.str; default = "/run/${unitName name}/redis.sock"; description = "Unix socket (null: none)."; };
      unixSocketPerm = mkOption { type = types.int; default = 660; description = "Permissions of the socket (octal digits)."; };
      bind = mkOption { type = types.nullOr types.str; default = "127.0.0.1"; description = "Addresses to listen on, space-separated (null: all)."; };
      user = mkOption { type = types.str; default = unitName name; description = "The user the server runs as (made when it is the default)."; };
      databases = mkOption { type = types.ints.positive; default = 16; description = "Number of databases."; };
      appendOnly = mkOption { type = types.bool; default = false; description = "Whether every write is logged to the append-only file."; };
      save = mkOption { type = types.listOf (types.listOf types.ints.unsigned); default = [ [ 900 1 ] [ 300 10 ] [ 60 10000 ] ]; description = "Snapshots: after N seconds if M keys changed."; };
      requirePassFile = mkOption { type = types.nullOr types.path; default = null; description = "A file holding the password clients must give, read at start (its first line). Give it as a string (\"/run/keys/redis\"): a path literal is copied into the world-readable store."; };
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
    } // lib.optionalAttrs (config.bind != null) { inherit (config) bind; }
      // lib.optionalAttrs (config.unixSocket != null) { unixsocket = config.unixSocket; unixsocketperm = config.unixSocketPerm; });
  };
  confFile = name: s: pkgs.writeText "${unitName name}.conf" (concatStringsSep "\n"
    (lib.concatLists (mapAttrsToList lines s.settings)) + "\n");
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
          export PATH=${pkgs.busybox}/bin
          umask 077
          cat ${confFile name s} > /run/${unitName name}/redis.conf
          ${optionalString (s.requirePassFile != null) ''
            # Quoted as redis.conf reads it: backslashes and quotes escaped.
            printf 'requirepass "%s"\n' "$(head -n 1 ${lib.escapeShellArg (toString s.requirePassFile)} | sed 's/[\\"]/\\&/g')" >> /run/${unitName name}/redis.conf
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
