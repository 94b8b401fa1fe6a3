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
  # The units minimal.nix and the core modules make (other modules may add more).
  units = builtins.filter (u: builtins.hasAttr u sys.config.systemd.unitFiles)
    [ "basic.target" "getty-ttyS0.service" "getty.target" "hello.service" "multi-user.target" "network-setup.service" "network.target" "sysinit.target" ];
  passwd = sys.config.users.generatedFiles.passwd;
  group = sys.config.users.generatedFiles.group;
  kernelParams = tree.kernel-params.text;
  initrdModules = sys.config.system.build.initrd.modules;
}
