# virtualisation: port forwards, memory and cores reach the VM settings, the
# run-vm script and the guest's network configuration.
let
  pkgs = import ./fake-pkgs.nix;
  sys = import ../eval-config.nix {
    inherit pkgs;
    modules = [{
      fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
      boot.kernel.package = pkgs.linux;
      networking.hostName = "vm";
      virtualisation = {
        memorySize = 768;
        cores = 2;
        forwardPorts = [ { from = "host"; host.port = 8080; guest.port = 80; } { proto = "udp"; host.address = "0.0.0.0"; host.port = 5353; guest.port = 53; } ];
      };
    }];
  };
  tree = builtins.fromJSON (builtins.unsafeDiscardStringContext sys.config.system.build.vm.tree);
  script = tree."bin/run-vm".text;
  has = s: builtins.match ".*${lib.escapeRegex s}.*" (builtins.replaceStrings [ "\n" ] [ " " ] script) != null;
  lib = import ../lib;
in
{
  settings = tree.vm-settings.text;
  executable = tree."bin/run-vm".executable;
  tcg = has "-accel tcg -m 768M -smp 2";
  hostfwd = has "'user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53'";
  noKvm = !(has "kvm");
  initrdModules = sys.config.boot.initrd.kernelModules;
  eth0 = sys.config.networking.interfaces.eth0.ipv4.addresses;
  gateway = sys.config.networking.defaultGateway;
  network = sys.config.systemd.services.network-setup.script;
}
