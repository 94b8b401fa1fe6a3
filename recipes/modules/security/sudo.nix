# security.sudo, as NixOS's: Debian's sudo 1.9 with PAM, installed setuid root
# through security.wrappers; /etc/sudoers from the options below, checked with
# `visudo -c` at build time (a syntax error fails the build with its line).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkIf types concatStringsSep concatMapStrings optionalString;
  cfg = config.security.sudo;
  sudo = cfg.package;
  # sudoers(5): `,`, `:`, `=` and `\` in a command's arguments are escaped.
  escapeArgs = builtins.replaceStrings [ "\\" "," ":" "=" ] [ "\\\\" "\\," "\\:" "\\=" ];
  escapeCommand = c:
    let parts = builtins.match "([^ ]*)( .*)?" c; in
    if c == "ALL" || parts == null then c
    else builtins.head parts + escapeArgs (if builtins.elemAt parts 1 == null then "" else builtins.elemAt parts 1);
  command = c:
    if builtins.isString c then escapeCommand c
    else concatMapStrings (t: "${t}: ") c.options + escapeCommand c.command;
  # Login names as Debian allows them: lower case first, so never `ALL` or an
  # alias (upper case), `%group`, `+netgroup` or `#uid` by accident.
  sudoName = types.strMatching "[a-z_][a-z0-9_.-]*[$]?";
  line = types.strMatching "[^[:cntrl:]]+";
  rule = r:
    let
      who = map (u: if builtins.isInt u then "#${toString u}" else u) r.users
        ++ map (g: if builtins.isInt g then "%#${toString g}" else "%${g}") r.groups;
    in
    optionalString (who != [ ] && r.commands != [ ])
      "${concatStringsSep ", " who} ${r.host}=(${r.runAs}) ${concatStringsSep ", " (map command r.commands)}\n";
  commandType = types.either line (types.submodule {
    options.command = mkOption { type = line; description = "A command (with arguments) as sudoers writes it."; };
    options.options = mkOption {
      type = types.listOf (types.enum [ "NOPASSWD" "PASSWD" "NOEXEC" "EXEC" "SETENV" "NOSETENV" "LOG_INPUT" "NOLOG_INPUT" "LOG_OUTPUT" "NOLOG_OUTPUT" "MAIL" "NOMAIL" "INTERCEPT" "NOINTERCEPT" ]);
      default = [ ];
      description = "Tags such as NOPASSWD.";
    };
  });
  ruleType = types.submodule {
    options = {
      users = mkOption { type = types.listOf (types.either sudoName types.int); default = [ ]; description = "Users (names or uids) the rule applies to."; };
      groups = mkOption { type = types.listOf (types.either sudoName types.int); default = [ ]; description = "Groups (names or gids) the rule applies to."; };
      host = mkOption { type = line; default = "ALL"; description = "Hosts the rule applies on."; };
      runAs = mkOption { type = line; default = "ALL:ALL"; description = "Users (and `:groups`) the commands may run as."; };
      commands = mkOption { type = types.listOf commandType; description = "Commands, with tags such as NOPASSWD."; };
    };
  };
  sudoers = pkgs.writeText "sudoers" cfg.configFile;
in
{
  options.security.sudo = {
    enable = mkOption { type = types.bool; default = true; description = "Whether to install sudo (setuid root in /run/wrappers/bin)."; };
    package = mkOption { type = types.package; default = pkgs.bootstrap.seeds.sudo; defaultText = "pkgs.bootstrap.seeds.sudo"; description = "The sudo package (Debian's)."; };
    wheelNeedsPassword = mkOption { type = types.bool; default = true; description = "Whether members of `wheel` must give their password to sudo."; };
    execWheelOnly = mkOption { type = types.bool; default = false; description = "Whether only members of `wheel` may run sudo (the program is mode 4510, group wheel)."; };
    keepTerminfo = mkOption { type = types.bool; default = true; description = "Whether sudo keeps TERMINFO and TERMINFO_DIRS for root and wheel."; };
    extraRules = mkOption {
      type = types.listOf ruleType;
      default = [ ];
      example = [ { users = [ "backup" ]; commands = [ { command = "/run/current-system/sw/bin/b8gctl restart nginx"; options = [ "NOPASSWD" ]; } ]; } ];
      description = "Rules added to /etc/sudoers after the default ones (later rules win in sudoers).";
    };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Lines appended to /etc/sudoers."; };
    configFile = mkOption {
      type = types.lines;
      description = "The whole of /etc/sudoers (by default from the options above).";
    };
  };
  config = mkIf cfg.enable {
    security.sudo.extraRules = lib.mkOrder 400 [
      { users = [ "root" ]; commands = [ { command = "ALL"; options = [ "SETENV" ]; } ]; }
      { groups = [ "wheel" ]; commands = [ { command = "ALL"; options = [ "SETENV" ] ++ lib.optional (!cfg.wheelNeedsPassword) "NOPASSWD"; } ]; }
    ];
    security.sudo.configFile = lib.mkDefault (''
      # /etc/sudoers: written by b8g from security.sudo. Do not edit: it is replaced
      # at every activation.

      # Keep the environment variables NixOS keeps.
      Defaults env_keep+=SSH_AUTH_SOCK
      # Commands run as another user find programs in the system's directories only,
      # as Debian's sudoers has it (NixOS keeps the caller's PATH, which a rule
      # allowing one script would hand to the caller).
      Defaults secure_path="/run/wrappers/bin:/run/current-system/sw/bin:/run/current-system/sw/sbin"
      ${optionalString cfg.keepTerminfo ''
        Defaults:root,%wheel env_keep+=TERMINFO_DIRS
        Defaults:root,%wheel env_keep+=TERMINFO
      ''}
      # Rules (security.sudo.extraRules).
    '' + concatMapStrings rule cfg.extraRules + optionalString (cfg.extraConfig != "") "\n${cfg.extraConfig}\n");
    security.wrappers = let owner = "root"; group = if cfg.execWheelOnly then "wheel" else "root";
      permissions = if cfg.execWheelOnly then "u+rx,g+x" else "u+rx,g+x,o+x"; in {
      sudo = { source = "${sudo}/bin/sudo"; setuid = true; inherit owner group permissions; };
      sudoedit = { source = "${sudo}/bin/sudo"; setuid = true; inherit owner group permissions; };
    };
    environment.systemPackages = [ sudo ];
    environment.etc.sudoers = {
      # visudo checks it in the build sandbox; the copy is root's, mode 0440.
      source = derivation {
        name = "sudoers-checked";
        system = "x86_64-linux";
        builder = pkgs.runtimeShell;
        args = [ "-c" ''
          "$visudo" -c -f "$sudoers" || { echo "error: visudo rejected /etc/sudoers (security.sudo.configFile, extraRules or extraConfig); the line above names the fault" >&2; exit 1; }
          "$cp" "$sudoers" "$out"
        '' ];
        inherit sudoers;
        visudo = "${sudo}/sbin/visudo";
        cp = "${pkgs.busybox}/bin/cp";
        preferLocalBuild = true;
      };
      mode = "0440";
    };
    # The plugins by absolute path: Debian's sudo looks for them in /usr/libexec/sudo.
    environment.etc."sudo.conf".text = ''
      Plugin sudoers_policy ${sudo}/libexec/sudo/sudoers.so
      Plugin sudoers_io ${sudo}/libexec/sudo/sudoers.so
      Plugin sudoers_audit ${sudo}/libexec/sudo/sudoers.so
      Path noexec ${sudo}/libexec/sudo/sudo_noexec.so
      Path intercept ${sudo}/libexec/sudo/sudo_intercept.so
      Path sesh ${sudo}/libexec/sudo/sesh
    '';
    # NixOS's PAM service for sudo: the password checked against /etc/shadow.
    # Debian's sudo opens the service `sudo-i` for `sudo -i`: the same rules.
    security.pam.services.sudo = { };
    security.pam.services.sudo-i = { };
  };
}
