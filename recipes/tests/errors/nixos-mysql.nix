# A NixOS habit b8g has no module for yet.
{
  fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
  services.mysql.enable = true;
}
