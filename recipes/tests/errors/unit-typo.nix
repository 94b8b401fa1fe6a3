# A typo in a service's directives: evaluation succeeds, the build's
# `b8gctl verify --strict` of the generated units fails (cli/tests/system_errors.rs).
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  systemd.services.typo = {
    wantedBy = [ "multi-user.target" ];
    serviceConfig = { Tpye = "simple"; ExecStart = "/bin/true"; };
  };
}
