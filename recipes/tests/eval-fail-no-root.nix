let
  sys = import ../eval-config.nix {
    pkgs = import ./fake-pkgs.nix;
    modules = [{ boot.kernel.package = (import ./fake-pkgs.nix).linux; }];
  };
in
sys.config.system.build.toplevel.drvPath
