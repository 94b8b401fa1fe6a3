# Deep under an option prefix NixOS has and b8g lacks (`security.acme', while
# `security' itself is declared for security.sudo and security.pam).
(import ./system.nix [{ security.acme.defaults.email = "admin@example.org"; }]).config.system.build.toplevel.drvPath
