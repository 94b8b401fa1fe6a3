# The stage-1 initramfs: a static busybox, the kernel modules needed to reach
# the root file system (with their dependencies, resolved from modules.dep by
# the `builtin:b8g-initrd` builder), and the stage-1 script below, which mounts
# the root and hands over to the generation's b8g-init.
{ config, lib, pkgs, ... }:
let
  inherit (lib) concatStringsSep escapeShellArg;
  fss = config.boot.initrd.fileSystems;
  root = lib.findFirst (f: f.mountPoint == "/") (throw "no root file system") fss;
  # A read-only root (erofs, squashfs) gets a tmpfs overlay so the running
  # system can write /etc, /var and /root; the changes live until power-off.
  readOnlyRoot = builtins.elem root.fsType [ "erofs" "squashfs" ];
  fsModules = lib.unique (lib.concatMap (f: lib.optional (builtins.elem f.fsType [ "ext4" "erofs" "squashfs" "vfat" "btrfs" "xfs" ]) f.fsType) fss
    ++ lib.optional readOnlyRoot "overlay");
  mountOpts = f: escapeShellArg (concatStringsSep "," (lib.remove "defaults" f.options ++ lib.optional (builtins.elem f.fsType [ "erofs" "squashfs" ]) "ro"));
  mountCmd = f:
    if f.mountPoint == "/" && readOnlyRoot then ''
      mkdir -p /lower /overlay
      wait_for ${escapeShellArg f.device}
      mount -t ${escapeShellArg f.fsType} -o ${mountOpts f} ${escapeShellArg f.device} /lower || fail "cannot mount ${f.device} on /"
      mount -t tmpfs -o mode=0755 tmpfs /overlay
      mkdir -p /overlay/upper /overlay/work
      mount -t overlay -o lowerdir=/lower,upperdir=/overlay/upper,workdir=/overlay/work overlay /sysroot \
        || fail "cannot mount the overlay on /"
    ''
    else ''
      mkdir -p /sysroot${f.mountPoint}
      wait_for ${escapeShellArg f.device}
      mount -t ${escapeShellArg f.fsType} -o ${mountOpts f} ${escapeShellArg f.device} /sysroot${f.mountPoint} \
        || fail "cannot mount ${f.device} on ${f.mountPoint}"
    '';
  stage1 = ''
    #!/bin/sh
    # b8g stage 1: modules, root file system, generation, switch_root.
    export PATH=/bin
    fail() { echo "b8g stage 1: $*" >/dev/console; echo "b8g stage 1: dropping to a shell" >/dev/console; exec sh </dev/console >/dev/console 2>&1; }
    mkdir -p /proc /sys /dev /sysroot /run
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    echo "b8g stage 1: $(cat /proc/uptime | cut -d' ' -f1)s" >/dev/console
    while read -r m; do insmod "$m" 2>/dev/null || echo "b8g stage 1: cannot load $m" >/dev/console; done < /etc/b8g-modules
    wait_for() {
      case "$1" in /dev/*) ;; *) return 0 ;; esac
      i=0
      while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      [ -e "$1" ] || fail "device $1 did not appear"
    }
    system=
    for w in $(cat /proc/cmdline); do
      case "$w" in b8g.system=*) system="''${w#b8g.system=}" ;; esac
    done
    [ -n "$system" ] || fail "no b8g.system= on the kernel command line"
  '' + lib.concatMapStrings mountCmd fss + ''
    # init is a link to an absolute store path, which resolves only inside /sysroot.
    [ -e "/sysroot$system/init" ] || [ -L "/sysroot$system/init" ] || fail "$system/init not found on the root file system"
    mount --move /dev /sysroot/dev 2>/dev/null || true
    umount /proc /sys 2>/dev/null
    exec switch_root /sysroot "$system/init"
  '';
in
{
  config.boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_blk" ];
  config.system.build.stage1 = stage1;
  config.system.build.initrd =
    if config.boot.initrd.package != null then config.boot.initrd.package
    else derivation {
      name = "initrd-${config.system.name}";
      system = "builtin";
      builder = "builtin:b8g-initrd";
      kernel = config.boot.kernel.package;
      busybox = pkgs.busybox;
      modules = concatStringsSep " " (lib.unique (config.boot.initrd.availableKernelModules ++ config.boot.initrd.kernelModules ++ fsModules));
      init = stage1;
      preferLocalBuild = true;
    };
}
