# Deep under an option prefix NixOS has and b8g lacks (`security.pam', while
# `security' itself is declared for security.sudo).
(import ./system.nix [{ security.pam.services.login.unixAuth = true; }]).config.system.build.toplevel.drvPath
