# A user that is neither a normal nor a system user is refused with NixOS's words.
(import ./system.nix [{ users.users.carol = { group = "users"; }; }]).config.system.build.toplevel.drvPath
