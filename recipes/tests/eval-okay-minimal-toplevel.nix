# images/minimal.nix evaluates and its toplevel is a derivation with the generation layout.
let
  sys = import ../eval-config.nix { pkgs = import ./fake-pkgs.nix; modules = [ ../../images/minimal.nix ]; };
  top = sys.config.system.build.toplevel;
  tree = builtins.fromJSON (builtins.unsafeDiscardStringContext top.tree);
in
{
  name = top.name;
  builder = top.builder;
  entries = builtins.attrNames tree;
  units = builtins.attrNames sys.config.systemd.unitFiles;
  passwd = sys.config.environment.etc.passwd.text;
  group = sys.config.environment.etc.group.text;
  kernelParams = tree.kernel-params.text;
  initrdModules = sys.config.system.build.initrd.modules;
}
