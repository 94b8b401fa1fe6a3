# services.postgresql, as NixOS has it: Debian's PostgreSQL (`pkgs.debian.postgresql-15`)
# run by b8g-init as user postgres. The cluster is made with initdb on the first
# start (in dataDir, a StateDirectory), postgresql.conf and pg_hba.conf are
# written into the store, and ensureDatabases/ensureUsers are applied after each
# start through the socket in /run/postgresql (peer authentication as postgres).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatMapStrings concatStringsSep mapAttrsToList optionalString escapeShellArg;
  cfg = config.services.postgresql;
  # "15" of "15.20-0+deb12u1", the layout Debian's package has (lib/postgresql/15/bin).
  major = builtins.head (builtins.match "([0-9]+)[.].*" (cfg.package.version or "15.0"));
  bin = "${cfg.package}/lib/postgresql/${major}/bin";
  toStr = v: if builtins.isBool v then (if v then "on" else "off")
    else if builtins.isInt v then toString v
    else "'${builtins.replaceStrings [ "'" ] [ "''" ] (toString v)}'";
  configFile = pkgs.writeText "postgresql.conf" (concatStringsSep "\n"
    (mapAttrsToList (n: v: "${n} = ${toStr v}") cfg.settings) + "\n");
  hbaFile = pkgs.writeText "pg_hba.conf" cfg.authentication;
  # A name quoted as an SQL identifier, and as a string literal.
  ident = n: "\"${builtins.replaceStrings [ "\"" ] [ "\"\"" ] n}\"";
  literal = n: "'${builtins.replaceStrings [ "'" ] [ "''" ] n}'";
  psql = "${bin}/psql --no-psqlrc -v ON_ERROR_STOP=1 -h /run/postgresql -p ${toString cfg.settings.port} -d postgres -tA";
  # One SQL statement as one shell word: names with $, quotes or backquotes stay names.
  sql = q: "${psql} -c ${escapeShellArg q}";
  clauses = [ "superuser" "createrole" "createdb" "replication" "bypassrls" "login" "inherit" ];
  dir = escapeShellArg cfg.dataDir;
in
{
  options.services.postgresql = {
    enable = mkEnableOption "the PostgreSQL server";
    package = mkOption {
      type = types.package;
      default = pkgs.debian.postgresql-15;
      defaultText = lib.literalExpression "pkgs.debian.postgresql-15";
      description = "The PostgreSQL package: Debian's layout, lib/postgresql/<major>/bin.";
    };
    dataDir = mkOption {
      # Plain path characters only: it is written into shell scripts and unit files.
      type = types.addCheck (types.strMatching "/[A-Za-z0-9_.+@-]+(/[A-Za-z0-9_.+@-]+)*")
        (p: builtins.match ".*/[.][.]?(/.*)?" p == null) // { description = "absolute path without . or .. components"; };
      default = "/var/lib/postgresql/${major}";
      defaultText = lib.literalExpression ''"/var/lib/postgresql/<major version>"'';
      description = "The cluster's data directory, made by initdb on the first start and kept.";
    };
    initdbArgs = mkOption { type = types.listOf types.str; default = [ ]; example = [ "--data-checksums" ]; description = "More arguments of initdb."; };
    enableTCPIP = mkOption { type = types.bool; default = false; description = "Whether to listen on every address (else only on localhost and the socket)."; };
    authentication = mkOption {
      type = types.lines;
      default = "";
      example = "host all all 10.0.0.0/8 scram-sha-256";
      description = "pg_hba.conf lines, before the defaults (local peer, and md5 from 127.0.0.1 and ::1), so the first that matches wins.";
    };
    ensureDatabases = mkOption { type = types.listOf types.str; default = [ ]; example = [ "app" ]; description = "Databases made after each start when missing (never dropped)."; };
    ensureUsers = mkOption {
      type = types.listOf (types.submodule {
        options.name = mkOption { type = types.str; description = "The role's name (it may log in)."; };
        options.ensureDBOwnership = mkOption { type = types.bool; default = false; description = "Whether it owns the database of the same name (which must be in ensureDatabases)."; };
        options.ensureClauses = mkOption {
          type = types.addCheck (types.attrsOf types.bool) (a: builtins.all (k: builtins.elem k clauses) (builtins.attrNames a))
            // { description = "attribute set of booleans named ${concatStringsSep ", " clauses}"; };
          default = { };
          example = { createdb = true; };
          description = "Role attributes (superuser, createrole, createdb, replication, bypassrls, login) set with ALTER ROLE.";
        };
      });
      default = [ ];
      description = "Roles made after each start when missing (never dropped).";
    };
    initialScript = mkOption { type = types.nullOr types.path; default = null; description = "SQL run once, right after initdb (extensions, grants). A path literal is copied into the world-readable store: keep passwords out of it."; };
    settings = mkOption {
      type = types.attrsOf (types.oneOf [ types.bool types.int types.str ]);
      default = { };
      example = { max_connections = 200; log_min_duration_statement = 500; };
      description = "postgresql.conf settings by name.";
    };
  };

  config = mkIf cfg.enable {
    assertions = map (u: {
      assertion = !u.ensureDBOwnership || builtins.elem u.name cfg.ensureDatabases;
      message = "services.postgresql.ensureUsers: ${u.name} has ensureDBOwnership but no database `${u.name}' is in ensureDatabases";
    }) cfg.ensureUsers;
    services.postgresql.settings = lib.mapAttrs (_: lib.mkDefault) {
      port = 5432;
      listen_addresses = if cfg.enableTCPIP then "*" else "localhost";
      unix_socket_directories = "/run/postgresql";
      hba_file = "${hbaFile}";
      # Logs go to stderr, which b8g-init keeps per unit (`b8gctl log -u postgresql`).
      log_destination = "stderr";
      logging_collector = false;
    };
    services.postgresql.authentication = lib.mkAfter ''
      local all all              peer
      host  all all 127.0.0.1/32 md5
      host  all all ::1/128      md5
    '';
    environment.systemPackages = [ cfg.package ];
    users.users.postgres = { isSystemUser = true; group = "postgres"; home = "/var/lib/postgresql"; description = "PostgreSQL server"; };
    users.groups.postgres = { };
    systemd.services.postgresql = {
      description = "PostgreSQL server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      restartTriggers = [ configFile ];
      path = [ pkgs.busybox ];
      environment.PGDATA = cfg.dataDir;
      # initdb refuses a directory that is not empty: a cluster half restored or
      # being copied in is never overwritten.
      preStart = ''
        if [ ! -e ${dir}/PG_VERSION ]; then
          ${bin}/initdb -U postgres ${concatStringsSep " " (map escapeShellArg cfg.initdbArgs)}
          touch ${dir}/.first-start
        fi
        # The store's file, whatever initdb wrote there.
        ln -sfn ${configFile} ${dir}/postgresql.conf
      '';
      postStart = ''
        ${optionalString (cfg.initialScript != null) ''
          if [ -e ${dir}/.first-start ]; then
            ${psql} -f ${escapeShellArg "${cfg.initialScript}"}
          fi
        ''}
        rm -f ${dir}/.first-start
      '' + concatMapStrings (d: ''
        if [ "$(${sql "SELECT 1 FROM pg_database WHERE datname = ${literal d}"})" != 1 ]; then
          ${sql "CREATE DATABASE ${ident d}"}
        fi
      '') cfg.ensureDatabases + concatMapStrings (u: ''
        if [ "$(${sql "SELECT 1 FROM pg_roles WHERE rolname = ${literal u.name}"})" != 1 ]; then
          ${sql "CREATE ROLE ${ident u.name} LOGIN"}
        fi
        ${optionalString u.ensureDBOwnership (sql "ALTER DATABASE ${ident u.name} OWNER TO ${ident u.name}")}
        ${optionalString (u.ensureClauses != { }) (sql "ALTER ROLE ${ident u.name} ${concatStringsSep " " (mapAttrsToList (k: v: (if v then "" else "NO") + lib.toUpper k) u.ensureClauses)}")}
      '') cfg.ensureUsers;
      serviceConfig = {
        # Debian's postgres speaks sd_notify: ready once it accepts connections.
        Type = "notify";
        User = "postgres";
        Group = "postgres";
        ExecStart = "${bin}/postgres -D ${cfg.dataDir}";
        ExecReload = "${pkgs.busybox}/bin/kill -HUP $MAINPID";
        # SIGINT is PostgreSQL's fast shutdown; the postmaster stops its children.
        KillSignal = "SIGINT";
        KillMode = "mixed";
        TimeoutSec = 120;
        StateDirectory = "postgresql";
        StateDirectoryMode = "0750";
        RuntimeDirectory = "postgresql";
        RuntimeDirectoryMode = "0755";
      };
    };
  };
}
