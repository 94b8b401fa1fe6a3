# A system of the given modules with stand-in packages, and the root file
# system and kernel every test system needs (not itself a test case).
modules:
let pkgs = import ./fake-pkgs.nix; in
import ../eval-config.nix {
  inherit pkgs;
  modules = [{
    fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
    boot.kernel.package = pkgs.linux;
  }] ++ modules;
}
