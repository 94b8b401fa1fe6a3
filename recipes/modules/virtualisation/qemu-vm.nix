# virtualisation: how the system runs as a qemu VM (memory, cores, user-mode
# network with host port forwards), and `system.build.vm`, a store path with
# `bin/run-vm` (a standalone script booting the generation under TCG) and
# `vm-settings` (the same settings for `b8g run-vm`).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkIf mkDefault types concatMapStrings concatStringsSep escapeShellArg;
  cfg = config.virtualisation;
  # (Only networking.useDHCP: reading interfaces.eth0 here would define the
  # interfaces from themselves.)
  dhcp = config.networking.useDHCP;
  toplevel = config.system.build.toplevel;

  forwardOptions = {
    options = {
      from = mkOption { type = types.enum [ "host" ]; default = "host"; description = "Which side connects: only host-to-guest forwards are supported."; };
      proto = mkOption { type = types.enum [ "tcp" "udp" ]; default = "tcp"; description = "Protocol forwarded."; };
      host.address = mkOption { type = types.str; default = "127.0.0.1"; description = "Host address qemu listens on."; };
      host.port = mkOption { type = types.port; description = "Host port qemu listens on."; };
      guest.port = mkOption { type = types.port; description = "Guest port connections go to."; };
    };
  };

  hostfwd = f: ",hostfwd=${f.proto}:${f.host.address}:${toString f.host.port}-:${toString f.guest.port}";
  params = lib.replaceStrings [ "@toplevel@" ] [ "${toplevel}" ]
    (concatStringsSep " " ([ "console=ttyS0" "b8g.system=@toplevel@" ] ++ config.boot.kernelParams ++ [ "panic=-1" ]));
  storeDir = builtins.storeDir;

  # The script runs on the host. Store paths in it are logical; the store may
  # live under another root (b8g --root), so they are mapped to the directory
  # holding this script's own store path.
  script = ''
    #!/bin/sh
    # Boots the b8g system `${config.system.name}` under qemu (TCG, never KVM); the
    # serial console is on stdio and the VM exits when the guest powers off.
    # Usage: run-vm ROOT-IMAGE [extra qemu arguments]   (or set B8G_IMAGE)
    set -e
    if [ -n "''${B8G_IMAGE:-}" ]; then image=$B8G_IMAGE
    elif [ $# -gt 0 ]; then image=$1; shift
    else echo "usage: $0 ROOT-IMAGE [qemu arguments] (b8g-build --image writes one)" >&2; exit 2
    fi
    here=$(cd "$(dirname "$0")/.." && pwd -P)
    store=$(dirname "$here")
    real() { echo "$store/''${1#${storeDir}/}"; }
  '' + lib.optionalString (config.system.image.format != "erofs") ''
    # The guest writes its root: never an image inside the store (system.build.image's).
    case "$(cd "$(dirname "$image")" && pwd -P)/" in
      "$store"/*|${storeDir}/*) echo "$image is in the store, which the VM would write: copy it first" >&2; exit 2 ;;
    esac
  '' + ''
    exec "''${QEMU:-qemu-system-x86_64}" \
  '' + concatMapStrings (l: "  ${l} \\\n") ([
    "-M pc -accel tcg -m ${toString cfg.memorySize}M -smp ${toString cfg.cores}"
    "-nodefaults -display none -monitor none -serial stdio -no-reboot"
    "-kernel \"$(real ${config.boot.kernel.package}/vmlinuz)\""
    "-initrd \"$(real ${config.system.build.initrd}/initrd)\""
    "-append ${escapeShellArg params}"
    "-drive \"file=$image,if=virtio,format=raw,readonly=${if config.system.image.format == "erofs" then "on" else "off"}\""
  ] ++ lib.optional cfg.network.enable
    "-netdev ${escapeShellArg "user,id=n0${concatMapStrings hostfwd cfg.forwardPorts}"} -device virtio-net-pci,netdev=n0")
  + "  \"$@\"\n";

  # Read by `b8g run-vm` (kernel-adapters/src/linux/qemu.rs): one setting a line.
  settings = ''
    memory ${toString cfg.memorySize}
    cores ${toString cfg.cores}
    network ${if cfg.network.enable then "on" else "off"}
    image ${config.system.image.format}
  '' + concatMapStrings (f: "forward ${f.proto} ${f.host.address} ${toString f.host.port} ${toString f.guest.port}\n") cfg.forwardPorts;
in
{
  options.virtualisation = {
    memorySize = mkOption { type = types.ints.positive; default = 512; description = "Memory of the VM in MiB."; };
    cores = mkOption { type = types.ints.positive; default = 1; description = "Virtual CPUs of the VM."; };
    forwardPorts = mkOption {
      type = types.listOf (types.submodule forwardOptions);
      default = [ ];
      example = [{ from = "host"; host.port = 8080; guest.port = 80; }];
      description = "Ports of the host forwarded into the VM over qemu's user-mode network.";
    };
    network.enable = mkOption {
      type = types.bool;
      default = cfg.forwardPorts != [ ];
      defaultText = lib.literalExpression "config.virtualisation.forwardPorts != [ ]";
      description = "Give the VM a virtio network card on qemu's user-mode network (10.0.2.0/24), configured as `eth0`.";
    };
  };

  config = {
    system.build.vm = pkgs.b8gTree "b8g-vm-${config.system.name}" {
      "bin/run-vm" = { type = "file"; text = script; executable = true; };
      vm-settings = { type = "file"; text = settings; };
      system = { type = "symlink"; target = "${toplevel}"; };
    };
    boot.initrd.kernelModules = mkIf cfg.network.enable [ "virtio_net" ];
    # qemu's user-mode network: the guest is 10.0.2.15, the gateway 10.0.2.2, DNS 10.0.2.3.
    # Unless DHCP is asked for: then qemu's DHCP server gives the same.
    networking.interfaces = mkIf (cfg.network.enable && !dhcp) {
      eth0.ipv4.addresses = mkDefault [{ address = "10.0.2.15"; prefixLength = 24; }];
    };
    networking.defaultGateway = mkIf (cfg.network.enable && !dhcp) (mkDefault "10.0.2.2");
    networking.nameservers = mkIf (cfg.network.enable && !dhcp) (mkDefault [ "10.0.2.3" ]);
  };
}
