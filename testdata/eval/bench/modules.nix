# Benchmark (e): a module-system configuration at NixOS scale, generated:
# 200 service modules declaring 10 options each (2 000 options, submodules
# among them), defining each other's options through mkIf, mkDefault,
# mkForce, mkOrder and mkMerge, evaluated with `recipes/lib`'s evalModules
# to a toplevel derivation whose environment holds every module's config.
{ recipes }:
let
  lib = import (recipes + "/lib");
  inherit (lib) mkOption types mkIf mkDefault mkForce mkMerge mkBefore mkAfter;
  count = 200;
  name = i: "svc${toString i}";
  mod = a: b: a - a / b * b;
  # Module i configures two others: its "peer" and its "next".
  peer = i: mod (i * 7 + 3) count;
  next = i: mod (i + 1) count;

  userType = types.submodule ({ name, ... }: {
    options = {
      uid = mkOption { type = types.int; description = "The user's id."; };
      home = mkOption { type = types.str; default = "/var/lib/${name}"; description = "Home."; };
      shell = mkOption { type = types.str; default = "/bin/sh"; description = "Shell."; };
      groups = mkOption { type = types.listOf types.str; default = [ ]; description = "Groups."; };
    };
  });

  service = i: { config, ... }:
    let
      cfg = config.services.${name i};
      peerName = name (peer i);
    in {
      options.services.${name i} = {
        enable = mkOption { type = types.bool; default = false; description = "Enable ${name i}."; };
        port = mkOption { type = types.int; default = 1000 + i; description = "Port."; };
        user = mkOption { type = types.str; default = name i; description = "User."; };
        level = mkOption { type = types.enum [ "low" "mid" "high" ]; default = "low"; description = "Level."; };
        packages = mkOption { type = types.listOf types.str; default = [ ]; description = "Packages."; };
        environment = mkOption { type = types.attrsOf types.str; default = { }; description = "Env."; };
        after = mkOption { type = types.listOf types.str; default = [ ]; description = "Order."; };
        extraConfig = mkOption { type = types.lines; default = ""; description = "Config text."; };
        settings = mkOption {
          type = types.attrsOf (types.either types.int types.str);
          default = { };
          description = "Settings.";
        };
        users = mkOption { type = types.attrsOf userType; default = { }; description = "Users."; };
      };
      config = mkMerge [
        {
          services.${name i} = {
            enable = mkDefault (mod i 3 != 0);
            settings.index = i;
            settings.name = name i;
            extraConfig = mkBefore "# ${name i}";
          };
        }
        (mkIf cfg.enable {
          services.${peerName} = {
            packages = [ "pkg-${toString i}" ];
            environment."FROM_${toString i}" = "${cfg.user}:${toString cfg.port}";
            after = [ "${name i}.service" ];
            extraConfig = mkAfter "peer ${name i} on ${toString cfg.port}";
            users.${cfg.user} = { uid = 1000 + i; groups = [ "g${toString (mod i 10)}" ]; };
          };
        })
        # A module of its own: the peer may be the next one.
        (mkIf cfg.enable {
          services.${name (next i)}.settings."seen-${toString i}" = cfg.level;
        })
        (mkIf (mod i 10 == 0) {
          services.${name i} = {
            level = mkForce "high";
            port = mkForce (20000 + i);
          };
        })
      ];
    };

  eval = lib.evalModules {
    modules = builtins.genList service count;
  };
  services = eval.config.services;
  toplevel = derivation ({
    name = "bench-toplevel";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
  } // lib.mapAttrs' (n: s: lib.nameValuePair "svc_${n}" (builtins.toJSON s)) services);
in
toplevel.drvPath
