# A late file system is required by local-fs.target (a failed mount fails it),
# unless its options say nofail, as systemd-fstab-generator makes them.
let
  sys = import ./system.nix [{
    fileSystems."/data" = { device = "/dev/vdb"; fsType = "ext4"; };
    fileSystems."/scratch" = { device = "/dev/vdc"; fsType = "ext4"; options = [ "defaults" "nofail" ]; };
  }];
  strip = builtins.unsafeDiscardStringContext;
  links = builtins.filter (n: builtins.match "local-fs.target.*" n != null)
    (builtins.attrNames (builtins.fromJSON (strip sys.config.system.build.units.tree)));
in
{
  inherit links;
  data = sys.config.systemd.unitFiles."data.mount";
}
