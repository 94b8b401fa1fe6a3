# A whole NixOS subtree b8g lacks (`security' is not declared at all).
(import ./system.nix [{ security.sudo.enable = true; }]).config.system.build.toplevel.drvPath
