# services.openssh as NixOS's: sshd_config from ports, host keys and settings
# (NixOS's defaults, overridable), users' keys copied to
# /etc/ssh/authorized_keys.d/<name>, host keys made before the first start, the
# privilege separation user, and a Type=notify unit.
let
  pkgs = import ./fake-pkgs.nix;
  strip = builtins.unsafeDiscardStringContext;
  c = (import ./system.nix [{
    services.openssh = {
      enable = true;
      ports = [ 22 2222 ];
      hostKeys = [ { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; } ];
      settings.PasswordAuthentication = false;
      settings.AllowUsers = [ "alice" "root" ];
      extraConfig = "Match User alice\n  X11Forwarding no";
    };
    users.users.alice = { isNormalUser = true; openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAAC3Nza alice@laptop" "ssh-rsa AAAAB3 alice@work" ]; };
    users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAAroot root@host" ];
  }]).config;
  noPath = s: builtins.replaceStrings [ (strip "${c.services.openssh.package}") ] [ "OPENSSH" ] (strip s);
in
{
  sshdConfig = noPath c.services.openssh.configFile.configText;
  sshdConfigMode = c.environment.etc."ssh/sshd_config".mode;
  aliceKeys = c.environment.etc."ssh/authorized_keys.d/alice".text;
  aliceKeysMode = c.environment.etc."ssh/authorized_keys.d/alice".mode;
  rootKeys = c.environment.etc."ssh/authorized_keys.d/root".text;
  noBobKeys = c.environment.etc ? "ssh/authorized_keys.d/bob";
  privsep = { inherit (c.users.users.sshd) isSystemUser group; };
  unit = noPath c.systemd.unitFiles."sshd.service";
  preStart = noPath c.systemd.services.sshd.preStart;
}
