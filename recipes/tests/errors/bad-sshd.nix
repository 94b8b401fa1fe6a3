# An sshd setting sshd rejects: the build fails with its line (cli/tests/system_errors.rs).
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  services.openssh.enable = true;
  services.openssh.settings.PermitRootLogn = "no";
}
