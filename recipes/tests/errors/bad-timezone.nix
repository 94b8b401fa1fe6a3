# A misspelt time zone: the build fails naming it (cli/tests/system_errors.rs).
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  time.timeZone = "Europe/Berln";
}
