# Every system module; eval-config.nix imports them all.
[
  ./system/assertions.nix
  ./system/toplevel.nix
  ./system/activation.nix
  ./system/units.nix
  ./system/targets.nix
  ./system/initrd.nix
  ./boot/kernel.nix
  ./config/users.nix
  ./config/etc.nix
  ./config/packages.nix
  ./config/networking.nix
  ./config/filesystems.nix
  ./services/getty.nix
  ./services/nginx.nix
  ./virtualisation/qemu-vm.nix
]
