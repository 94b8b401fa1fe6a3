# NixOS's old openssh option names still work, with NixOS's rename warning.
let
  c = (import ./system.nix [{
    services.openssh = { enable = true; passwordAuthentication = false; permitRootLogin = "no"; };
  }]).config;
in
{
  inherit (c.services.openssh.settings) PasswordAuthentication PermitRootLogin X11Forwarding;
  warnings = c.warnings;
}
