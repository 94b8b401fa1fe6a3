# environment.variables and environment.shellAliases, as in NixOS: the variables
# go to /etc/set-environment, which /etc/profile (read by login shells, busybox
# sh included) sources; aliases and interactiveShellInit apply to interactive
# shells. PATH holds the user's profile (users.users.<n>.packages) and the system's:
# busybox login and su set PATH to /bin:/usr/bin, none of which a b8g system has.
# /run/wrappers/bin (security.wrappers: setuid sudo) comes first, as on NixOS.
{ config, lib, ... }:
let
  inherit (lib) mkOption types concatStringsSep mapAttrsToList filterAttrs;
  cfg = config.environment;
  value = v: if builtins.isList v then concatStringsSep ":" (map toString v) else toString v;
  setEnvironment = ''
    # Written by b8g from environment.variables.
    export __B8G_SET_ENVIRONMENT_DONE=1
    export PATH="/run/wrappers/bin:/etc/profiles/per-user/$USER/bin:/run/current-system/sw/bin:/run/current-system/sw/sbin"
  '' + lib.concatStrings (mapAttrsToList (n: v: "export ${n}=\"${value v}\"\n") cfg.variables);
in
{
  options.environment = {
    variables = mkOption {
      type = types.attrsOf (types.oneOf [ (types.listOf (types.oneOf [ types.int types.str types.path ])) types.int types.str types.path ]);
      default = { };
      example = { EDITOR = "vi"; };
      description = "Environment variables of login shells, set in /etc/set-environment (lists are joined with `:`; values are not quoted, so `$HOME` expands).";
    };
    shellAliases = mkOption {
      type = types.attrsOf (types.nullOr (types.either types.str types.path));
      default = { };
      example = { ll = "ls -l"; };
      description = "Aliases of interactive shells; null removes a default one.";
    };
    shellInit = mkOption { type = types.lines; default = ""; description = "Shell commands run by every login shell (/etc/profile)."; };
    loginShellInit = mkOption { type = types.lines; default = ""; description = "Shell commands run by login shells (after shellInit in /etc/profile)."; };
    interactiveShellInit = mkOption { type = types.lines; default = ""; description = "Shell commands run by interactive login shells."; };
  };
  config = {
    # NixOS's default aliases.
    environment.shellAliases = lib.mapAttrs (_: lib.mkDefault) { ls = "ls --color=tty"; ll = "ls -l"; l = "ls -alh"; };
    environment.etc."set-environment".text = setEnvironment;
    environment.etc.profile.text = ''
      # /etc/profile: written by b8g (environment.variables, environment.shellAliases).
      if [ -z "$__B8G_SET_ENVIRONMENT_DONE" ]; then . /etc/set-environment; fi
      ${cfg.shellInit}
      ${cfg.loginShellInit}
      case "$-" in *i*)
    '' + lib.concatStrings (mapAttrsToList (n: v: "  alias ${n}=${lib.escapeShellArg (toString v)}\n") (filterAttrs (_: v: v != null) cfg.shellAliases))
    + ''
      ${cfg.interactiveShellInit}
      ;; esac
    '';
  };
}
