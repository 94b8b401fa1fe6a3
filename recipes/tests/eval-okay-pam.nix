# security.pam.services as NixOS's: /etc/pam.d/NAME from unixAuth, rootOK and
# setEnvironment, or a service's own text; the deny-all `other` fallback;
# sudo, sudo-i and sshd declared by their modules.
let
  strip = builtins.unsafeDiscardStringContext;
  c = (import ./system.nix [{
    security.pam.services.su = { rootOK = true; setEnvironment = false; };
    security.pam.services.locked.unixAuth = false;
    security.pam.services.custom.text = "auth required pam_permit.so\n";
    services.openssh.enable = true;
  }]).config;
  etc = n: builtins.replaceStrings [ (strip "${(import ./fake-pkgs.nix).bootstrap.seeds.libpam-modules}") ] [ "PAM" ] (strip c.environment.etc.${n}.text);
in
{
  su = etc "pam.d/su";
  locked = etc "pam.d/locked";
  custom = etc "pam.d/custom";
  other = etc "pam.d/other";
  sshd = etc "pam.d/sshd";
  sudoSame = etc "pam.d/sudo-i" == builtins.replaceStrings [ "sudo\n" ] [ "sudo-i\n" ] (etc "pam.d/sudo");
  environment = etc "pam/environment";
}
