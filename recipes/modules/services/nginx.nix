# services.nginx: the nginx web server from the Debian seed (`pkgs.nginx`), run by
# b8g-init in the foreground as user www-data with its state under /run/nginx.
# The configuration file is written by this module into the store.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatMapStrings concatStringsSep mapAttrsToList optionalString;
  cfg = config.services.nginx;

  listenOptions = {
    options = {
      addr = mkOption { type = types.str; default = "0.0.0.0"; description = "Address to listen on (`[::]` for IPv6)."; };
      port = mkOption { type = types.port; default = 80; description = "Port to listen on."; };
    };
  };

  vhostOptions = { name, ... }: {
    options = {
      serverName = mkOption { type = types.str; default = name; description = "The `server_name` of the virtual host."; };
      listen = mkOption {
        type = types.listOf (types.submodule listenOptions);
        default = [{ }];
        description = "Addresses and ports the virtual host listens on (0.0.0.0:80 by default).";
      };
      default = mkOption { type = types.bool; default = false; description = "Whether this is the default server of its addresses."; };
      root = mkOption {
        type = types.nullOr (types.either types.path types.package);
        default = null;
        example = lib.literalExpression "pkgs.writeTextFile { name = \"site\"; text = \"<h1>hi</h1>\"; }";
        description = "Directory served (a store path, or a local path copied into the store).";
      };
      index = mkOption { type = types.listOf types.str; default = [ "index.html" ]; description = "Index files."; };
      extraConfig = mkOption { type = types.lines; default = ""; description = "More directives inside the `server` block."; };
    };
  };

  serverBlock = v: ''
    server {
    ${concatMapStrings (l: "  listen ${l.addr}:${toString l.port}${optionalString v.default " default_server"};\n") v.listen
    }  server_name ${v.serverName};
    ${optionalString (v.root != null) "  root ${v.root};\n"
    }  index ${concatStringsSep " " v.index};
    ${lib.indent "  " v.extraConfig}
    }
  '';

  configText = ''
    # Written by the services.nginx module.
    daemon off;
    master_process on;
    worker_processes ${toString cfg.workerProcesses};
    user ${cfg.user} ${cfg.group};
    pid /run/nginx/nginx.pid;
    error_log stderr ${cfg.logLevel};
    events {
      worker_connections 256;
    }
    http {
      include ${cfg.package}/etc/nginx/mime.types;
      default_type application/octet-stream;
      access_log ${if cfg.accessLog then "/var/log/nginx/access.log" else "off"};
      sendfile on;
      client_body_temp_path /run/nginx/client_body;
      proxy_temp_path /run/nginx/proxy;
      fastcgi_temp_path /run/nginx/fastcgi;
      uwsgi_temp_path /run/nginx/uwsgi;
      scgi_temp_path /run/nginx/scgi;
    ${lib.indent "  " (concatStringsSep "\n" (mapAttrsToList (_: serverBlock) cfg.virtualHosts))}
    ${lib.indent "  " cfg.appendHttpConfig}
    }
  '';
in
{
  options.services.nginx = {
    enable = mkEnableOption "the nginx web server";
    package = mkOption {
      type = types.package;
      default = pkgs.nginx;
      defaultText = lib.literalExpression "pkgs.nginx";
      description = "The nginx package (with `sbin/nginx` and `etc/nginx/mime.types`).";
    };
    user = mkOption { type = types.str; default = "www-data"; description = "User the worker processes run as."; };
    group = mkOption { type = types.str; default = "www-data"; description = "Group the worker processes run as."; };
    workerProcesses = mkOption { type = types.ints.positive; default = 1; description = "Number of worker processes."; };
    logLevel = mkOption { type = types.enum [ "debug" "info" "notice" "warn" "error" "crit" ]; default = "notice"; description = "Error log level (the log goes to the service's output)."; };
    accessLog = mkOption { type = types.bool; default = true; description = "Whether requests are logged to /var/log/nginx/access.log."; };
    virtualHosts = mkOption {
      type = types.attrsOf (types.submodule vhostOptions);
      default = { };
      example = lib.literalExpression "{ localhost.root = ./site; }";
      description = "Virtual hosts (`server` blocks) by name.";
    };
    appendHttpConfig = mkOption { type = types.lines; default = ""; description = "More directives at the end of the `http` block."; };
    configFile = mkOption {
      type = types.package;
      readOnly = true;
      description = "The generated nginx.conf in the store.";
    };
  };

  config = mkIf cfg.enable {
    services.nginx.configFile = pkgs.writeText "nginx.conf" configText;
    environment.etc."nginx/nginx.conf".source = cfg.configFile;
    users.users.${cfg.user} = { uid = lib.mkDefault 33; group = cfg.group; isSystemUser = true; home = "/var/www"; };
    users.groups.${cfg.group}.gid = lib.mkDefault 33;
    assertions = [{
      assertion = cfg.virtualHosts != { } || cfg.appendHttpConfig != "";
      message = "services.nginx.enable is set but there is nothing to serve: add services.nginx.virtualHosts.";
    }];
    systemd.services.nginx = {
      description = "nginx web server";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      wants = [ "network.target" ];
      restartTriggers = [ cfg.configFile ];
      preStart = ''
        mkdir -p /var/log/nginx
        chown ${cfg.user}:${cfg.group} /var/log/nginx
      '';
      path = [ pkgs.busybox ];
      serviceConfig = {
        Type = "simple";
        # The prefix, error log and configuration are given explicitly: the
        # compiled-in defaults point at /etc/nginx, /var/log and /usr.
        ExecStart = "${cfg.package}/sbin/nginx -p /run/nginx/ -e stderr -c ${cfg.configFile}";
        RuntimeDirectory = "nginx";
        RuntimeDirectoryMode = "0755";
        Restart = "on-failure";
        RestartSec = 1;
        StandardOutput = "journal+console";
        StandardError = "journal+console";
      };
    };
  };
}
