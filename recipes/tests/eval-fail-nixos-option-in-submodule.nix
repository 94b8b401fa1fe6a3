# A NixOS option inside a user (a submodule) b8g lacks: the same hint as at the top.
(import ./system.nix [{
  users.users.alice = { isNormalUser = true; hashedPasswordFile = "/run/secrets/alice"; };
}]).config.system.build.toplevel.drvPath
