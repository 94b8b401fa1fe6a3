# A sudoers rule visudo rejects: the build fails with its line (cli/tests/system_errors.rs).
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  security.sudo.extraConfig = "alice ALL=(ALL) ALL ALL";
}
