# A system file whose users break an assertion (recipes/tests/eval-fail-user-assertion.nix).
{ pkgs, ... }:
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  boot.kernel.package = pkgs.linux;
  users.users.alice = { uid = 1000; isNormalUser = true; group = "users"; };
  users.users.bob = { uid = 1000; isNormalUser = true; group = "users"; };
}
