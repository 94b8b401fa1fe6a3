# A system file with a misspelt option (recipes/tests/eval-fail-user-unknown-option.nix).
{ pkgs, ... }:
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  boot.kernel.package = pkgs.linux;
  networking.hostname = "typo";
}
