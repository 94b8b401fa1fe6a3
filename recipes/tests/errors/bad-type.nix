# A system file giving a boolean option a string (recipes/tests/eval-fail-user-type.nix).
{ pkgs, ... }:
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  boot.kernel.package = pkgs.linux;
  services.getty.enable = "yes";
}
