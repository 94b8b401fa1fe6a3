# system.build.image: a builtin derivation over the generation, its format from the root file system.
let
  pkgs = import ./fake-pkgs.nix;
  sys = fs: import ../eval-config.nix {
    inherit pkgs;
    modules = [{ fileSystems."/" = { device = "/dev/vda"; fsType = fs; }; boot.kernel.package = pkgs.linux; }];
  };
  img = s: { inherit (s.config.system.build.image) builder format name; toplevel = "${s.config.system.build.image.toplevel}" == s.config.system.build.toplevel.outPath; };
in
[ (img (sys "erofs")) (img (sys "ext4")) ]
