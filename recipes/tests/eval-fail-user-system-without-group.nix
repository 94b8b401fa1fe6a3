# A system user must name its group (NixOS no longer defaults to nogroup).
(import ./system.nix [{ users.users.svc = { isSystemUser = true; }; }]).config.system.build.toplevel.drvPath
