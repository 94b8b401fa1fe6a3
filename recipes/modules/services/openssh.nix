# services.openssh, as NixOS's: Debian's OpenSSH 9.2 (`pkgs.openssh`), sshd run by
# b8g-init (Type=notify, as Debian's ssh.service), host keys made once by
# ssh-keygen before the first start and kept (NixOS's paths under /etc/ssh),
# users' keys from users.users.<name>.openssh.authorizedKeys in
# /etc/ssh/authorized_keys.d/<name> (root's copies, so sshd's StrictModes accepts
# them), PAM through pam_unix.
#
# /etc/ssh is a real directory (sshd_config is a copy), so the host keys written
# there stay beside the generation's files. On an image whose root is not kept
# across boots (run-vm's erofs with a tmpfs overlay), new host keys are made at
# every boot.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types concatMapStrings concatStringsSep mapAttrsToList optionalString filterAttrs;
  cfg = config.services.openssh;
  yesNo = b: if b then "yes" else "no";
  # A setting's value as sshd_config writes it.
  # (The user and group lists are space-separated, the algorithm lists comma-separated.)
  spaced = [ "AllowUsers" "AllowGroups" "DenyUsers" "DenyGroups" ];
  render = n: v: if builtins.isBool v then yesNo v
    else if builtins.isList v then concatStringsSep (if builtins.elem n spaced then " " else ",") v
    else toString v;
  # One line per setting (sshd takes the first value it reads, so each appears once).
  settingsLines = concatStringsSep "\n" (mapAttrsToList (n: v: "${n} ${render n v}") (filterAttrs (_: v: v != null) cfg.settings));
  configText = ''
    # Written by b8g (services.openssh).
    ${concatMapStrings (p: "Port ${toString p}\n") cfg.ports}${concatMapStrings (l: "ListenAddress ${l.addr}${optionalString (l.port != null) ":${toString l.port}"}\n") cfg.listenAddresses}${concatMapStrings (k: "HostKey ${k.path}\n") cfg.hostKeys}AuthorizedKeysFile ${concatStringsSep " " cfg.authorizedKeysFiles}
    UsePAM yes
    PrintMotd no
    ${optionalString cfg.allowSFTP "Subsystem sftp ${cfg.package}/lib/openssh/sftp-server\n"}${settingsLines}
    ${cfg.extraConfig}
  '';
  keyOf = u: concatStringsSep "\n" (u.openssh.authorizedKeys.keys ++ map builtins.readFile u.openssh.authorizedKeys.keyFiles);
  withKeys = filterAttrs (_: u: u.openssh.authorizedKeys.keys != [ ] || u.openssh.authorizedKeys.keyFiles != [ ]) config.users.users;
  # NixOS's old names (before settings), still written in many configurations:
  # accepted with NixOS's warning, as its mkRenamedOptionModule does.
  renamed = {
    passwordAuthentication = "PasswordAuthentication";
    permitRootLogin = "PermitRootLogin";
    kbdInteractiveAuthentication = "KbdInteractiveAuthentication";
    forwardX11 = "X11Forwarding";
    logLevel = "LogLevel";
    useDns = "UseDns";
    ciphers = "Ciphers";
    kexAlgorithms = "KexAlgorithms";
    macs = "Macs";
  };
  setRenamed = lib.filterAttrs (old: _: cfg.${old} != null) renamed;
  hostKeyType = types.submodule {
    options = {
      type = mkOption { type = types.enum [ "rsa" "ed25519" "ecdsa" ]; description = "Key type (ssh-keygen -t)."; };
      bits = mkOption { type = types.nullOr types.ints.positive; default = null; description = "Key size (ssh-keygen -b)."; };
      path = mkOption { type = types.strMatching "/[^[:cntrl:] ]+"; description = "Where the private key is (the public one beside it, `.pub`)."; };
    };
  };
in
{
  options.services.openssh = {
    enable = mkEnableOption "the OpenSSH server (sshd)";
    package = mkOption { type = types.package; default = pkgs.openssh; defaultText = lib.literalExpression "pkgs.openssh"; description = "The OpenSSH package (sbin/sshd, bin/ssh-keygen)."; };
    ports = mkOption { type = types.listOf types.port; default = [ 22 ]; description = "Ports sshd listens on."; };
    listenAddresses = mkOption {
      type = types.listOf (types.submodule {
        options.addr = mkOption { type = types.str; description = "Address (`[::]` for all IPv6 ones)."; };
        options.port = mkOption { type = types.nullOr types.port; default = null; description = "Port (else those of `ports`)."; };
      });
      default = [ ];
      description = "Addresses sshd listens on (all by default).";
    };
    hostKeys = mkOption {
      type = types.listOf hostKeyType;
      default = [
        { type = "rsa"; bits = 4096; path = "/etc/ssh/ssh_host_rsa_key"; }
        { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
      ];
      description = "Host keys, made by ssh-keygen before sshd first starts when missing, then kept.";
    };
    authorizedKeysFiles = mkOption {
      type = types.listOf types.str;
      default = [ "%h/.ssh/authorized_keys" "/etc/ssh/authorized_keys.d/%u" ];
      description = "Files sshd reads a user's authorized keys from (AuthorizedKeysFile).";
    };
    openFirewall = mkOption { type = types.bool; default = true; description = "Whether networking.firewall lets connections to `ports` in."; };
    allowSFTP = mkOption { type = types.bool; default = true; description = "Whether the sftp subsystem is enabled."; };
    settings = mkOption {
      type = types.attrsOf (types.nullOr (types.oneOf [ types.bool types.int types.str (types.listOf types.str) ]));
      default = { };
      example = { PasswordAuthentication = false; PermitRootLogin = "no"; };
      description = "sshd_config settings by sshd_config(5) name (null leaves one out). NixOS's defaults: PermitRootLogin prohibit-password, PasswordAuthentication and KbdInteractiveAuthentication yes, X11Forwarding no, UseDns no, LogLevel INFO.";
    };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Lines appended to sshd_config (Match blocks, for instance)."; };
  } // lib.mapAttrs (old: new: mkOption {
    type = types.nullOr (types.oneOf [ types.bool types.str (types.listOf types.str) ]);
    default = null;
    internal = true;
    description = "Renamed to services.openssh.settings.${new}.";
  }) renamed // {
    configFile = mkOption { type = types.package; readOnly = true; description = "The generated sshd_config in the store (checked with `sshd -t`)."; };
  };

  config = mkIf cfg.enable (lib.mkMerge [ {
    services.openssh.settings = lib.mapAttrs' (old: new: lib.nameValuePair new cfg.${old}) setRenamed;
    warnings = lib.mapAttrsToList (old: new:
      "The option `services.openssh.${old}' has been renamed to `services.openssh.settings.${new}'.") setRenamed;
    environment.etc = lib.mapAttrs' (n: u: lib.nameValuePair "ssh/authorized_keys.d/${u.name}" {
      text = keyOf u + "\n";
      mode = "0444";
    }) withKeys;
  } {
    services.openssh.settings = lib.mapAttrs (_: lib.mkDefault) {
      PermitRootLogin = "prohibit-password";
      PasswordAuthentication = true;
      KbdInteractiveAuthentication = true;
      X11Forwarding = false;
      UseDns = false;
      LogLevel = "INFO";
    };
    assertions = [{
      assertion = builtins.elem (cfg.settings.PermitRootLogin or "prohibit-password") [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ];
      message = "services.openssh.settings.PermitRootLogin must be one of yes, without-password, prohibit-password, forced-commands-only, no";
    }];
    services.openssh.configFile = derivation {
      name = "sshd_config";
      system = "x86_64-linux";
      builder = pkgs.runtimeShell;
      # sshd -t parses it (with a throw-away host key): a bad line fails the build.
      args = [ "-c" ''
        "$keygen" -q -t ed25519 -N "" -f "$TMPDIR/k" > /dev/null
        printf '%s' "$configText" > "$TMPDIR/sshd_config"
        if ! "$sshd" -t -f "$TMPDIR/sshd_config" -h "$TMPDIR/k" 2>&1; then
          echo "error: sshd -t rejected the generated sshd_config (services.openssh.settings or extraConfig); the line above names the fault" >&2
          exit 1
        fi
        "$cp" "$TMPDIR/sshd_config" "$out"
      '' ];
      inherit configText;
      sshd = "${cfg.package}/sbin/sshd";
      keygen = "${cfg.package}/bin/ssh-keygen";
      cp = "${pkgs.busybox}/bin/cp";
      preferLocalBuild = true;
    };
    environment.etc."ssh/sshd_config" = { source = cfg.configFile; mode = "0644"; };
    security.pam.services.sshd = { };
    networking.firewall.allowedTCPPorts = lib.optionals cfg.openFirewall cfg.ports;
    environment.systemPackages = [ cfg.package ];
    users.users.sshd = { isSystemUser = true; group = "sshd"; description = "SSH privilege separation user"; };
    users.groups.sshd = { };
    systemd.services.sshd = {
      description = "SSH daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      restartTriggers = [ cfg.configFile ];
      path = [ cfg.package pkgs.busybox ];
      preStart = concatMapStrings (k: ''
        if ! [ -s ${k.path} ]; then
          rm -f ${k.path} ${k.path}.pub
          mkdir -p -m 0755 "$(dirname ${k.path})"
          ssh-keygen -q -t ${k.type} ${optionalString (k.bits != null) "-b ${toString k.bits}"} -N "" -f ${k.path}
        fi
      '') cfg.hostKeys;
      serviceConfig = {
        Type = "notify";
        # sshd logs through syslog(3), to /dev/log, which b8g-init keeps (journalctl -u sshd).
        ExecStart = "${cfg.package}/sbin/sshd -D -f /etc/ssh/sshd_config";
        ExecReload = "${pkgs.busybox}/bin/kill -HUP $MAINPID";
        # Connections are sshd's children: a restart keeps them, as Debian's unit does.
        KillMode = "process";
        Restart = "on-failure";
        RestartSec = 1;
        # The privilege separation directory Debian's sshd is built with.
        RuntimeDirectory = "sshd";
        RuntimeDirectoryMode = "0755";
      };
    };
  } ]);
}
