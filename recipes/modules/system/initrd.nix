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
  # vfat also needs the code pages its default mount options name.
  fsModules = lib.unique (lib.concatMap (f: lib.optional (builtins.elem f.fsType [ "ext4" "erofs" "squashfs" "vfat" "btrfs" "xfs" ]) f.fsType
      ++ lib.optionals (f.fsType == "vfat") [ "nls_cp437" "nls_ascii" ]) fss
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
    # A shell on failure only when the command line asks for one: the console
    # may be anyone's, and a shell here is root on every disk. Otherwise PID 1
    # ends, the kernel panics (and reboots with panic=), and a loader counts
    # the boot as failed.
    fail() {
      echo "b8g stage 1: $*" >/dev/console
      case " $(cat /proc/cmdline 2>/dev/null) " in
        *" b8g.shell_on_fail "*)
          echo "b8g stage 1: dropping to a shell (b8g.shell_on_fail)" >/dev/console
          exec sh </dev/console >/dev/console 2>&1 ;;
      esac
      echo "b8g stage 1: giving up (b8g.shell_on_fail on the kernel command line gives a shell)" >/dev/console
      exit 1
    }
    mkdir -p /proc /sys /dev /sysroot /run
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    echo "b8g stage 1: $(cat /proc/uptime | cut -d' ' -f1)s" >/dev/console
    while read -r m; do insmod "$m" 2>/dev/null || echo "b8g stage 1: cannot load $m" >/dev/console; done < /etc/b8g-modules
    # /dev/disk/by-partlabel/NAME: there is no udev here, so the links are
    # made from sysfs (a partition's uevent names it PARTNAME=), for every
    # labelled partition; they stay in /dev for the running system.
    partlabel_links() {
      for u in /sys/class/block/*/uevent; do
        [ -e "$u" ] || continue
        dev=; part=
        while IFS='=' read -r k v; do
          case "$k" in DEVNAME) dev=$v ;; PARTNAME) part=$v ;; esac
        done < "$u"
        case "$part" in ""|*/*|.|..) continue ;; esac
        mkdir -p /dev/disk/by-partlabel
        [ -L "/dev/disk/by-partlabel/$part" ] || busybox ln -s "../../$dev" "/dev/disk/by-partlabel/$part"
      done
    }
    # /dev/disk/by-uuid/ID: the file system with that UUID (busybox findfs reads
    # ext4, vfat and others), linked the same way.
    uuid_link() {
      d=$(busybox findfs "UUID=''${1#/dev/disk/by-uuid/}" 2>/dev/null) || return 1
      case "$d" in /dev/*) ;; *) return 1 ;; esac
      mkdir -p /dev/disk/by-uuid
      [ -L "$1" ] || busybox ln -s "$d" "$1"
    }
    # /dev/disk/by-label/NAME: the file system labelled NAME (`mkfs.ext4 -L`,
    # `mkfs.fat -n`), as an installation made by hand names them.
    label_link() {
      d=$(busybox findfs "LABEL=''${1#/dev/disk/by-label/}" 2>/dev/null) || return 1
      case "$d" in /dev/*) ;; *) return 1 ;; esac
      mkdir -p /dev/disk/by-label
      [ -L "$1" ] || busybox ln -s "$d" "$1"
    }
    wait_for() {
      case "$1" in /dev/*) ;; *) return 0 ;; esac
      i=0
      while [ ! -e "$1" ] && [ $i -lt 100 ]; do
        case "$1" in
          /dev/disk/by-partlabel/*) partlabel_links; [ -e "$1" ] && break ;;
          /dev/disk/by-uuid/*) uuid_link "$1" && break ;;
          /dev/disk/by-label/*) label_link "$1" && break ;;
        esac
        sleep 0.1; i=$((i+1))
      done
      [ -e "$1" ] || fail "device $1 did not appear"
    }
    system=; loader=
    for w in $(cat /proc/cmdline); do
      case "$w" in
        b8g.system=*) system="''${w#b8g.system=}" ;;
        b8g.loader=*) loader="''${w#b8g.loader=}" ;;
      esac
    done
    [ -n "$system" ] || fail "no b8g.system= on the kernel command line"
  '' + lib.concatMapStrings mountCmd fss + ''
    # Generation selection and boot counting. `b8g system` keeps one entry per
    # generation in /b8g/var/boot/entries (generation= toplevel= tries= good=
    # reason=); the profile link names the default generation. A default that
    # is not yet good gets a try (counted down and synced before handing
    # over); one with no tries left is skipped for the newest good one. With
    # no entries, the kernel command line's b8g.system= boots as it is; so it
    # does when a boot loader's menu chose it (b8g.loader= on the command line).
    boot=/sysroot/b8g/var/boot
    has_init() { [ -e "/sysroot$1/init" ] || [ -L "/sysroot$1/init" ]; }
    read_entry() {
      e_gen=; e_top=; e_tries=0; e_good=0; e_reason=
      while IFS='=' read -r k v; do
        case "$k" in
          generation) e_gen=$v ;; toplevel) e_top=$v ;; tries) e_tries=$v ;;
          good) e_good=$v ;; reason) e_reason=$v ;;
        esac
      done < "$1"
    }
    write_entry() {
      busybox printf 'generation=%s\ntoplevel=%s\ntries=%s\ngood=%s\nreason=%s\n' \
        "$e_gen" "$e_top" "$e_tries" "$e_good" "$e_reason" > "$1.tmp" || return 1
      busybox sync; busybox mv "$1.tmp" "$1"; busybox sync
    }
    if [ -d "$boot/entries" ] && [ -n "$loader" ]; then
      # The loader chose and counts the tries; record which generation this
      # is, for the boot check to mark good.
      chosen=
      for g in "$boot"/entries/system-*.conf; do
        [ -f "$g" ] || continue
        read_entry "$g"
        if [ "$e_top" = "$system" ]; then chosen=$e_gen; fi
      done
      busybox printf 'generation=%s\nskipped=%s\nskipped_reason=%s\n' "$chosen" "" "" > "$boot/last-boot.tmp" \
        && busybox sync && busybox mv "$boot/last-boot.tmp" "$boot/last-boot" && busybox sync
    elif [ -d "$boot/entries" ]; then
      cur=$(readlink /sysroot/b8g/var/profiles/system 2>/dev/null)
      cur=''${cur#system-}; cur=''${cur%-link}
      chosen=; skipped=; why=
      f="$boot/entries/system-$cur.conf"
      if [ -n "$cur" ] && [ -f "$f" ]; then
        read_entry "$f"
        if ! has_init "$e_top"; then
          skipped=$cur; why="$e_top/init is missing"
        elif [ "$e_good" = 1 ]; then
          chosen=$cur
        elif [ "$e_tries" -gt 0 ] 2>/dev/null; then
          e_tries=$((e_tries - 1))
          write_entry "$f" || echo "b8g stage 1: cannot count down the tries of generation $cur" >/dev/console
          echo "b8g stage 1: generation $cur is on trial, $e_tries tries left after this one" >/dev/console
          chosen=$cur
        else
          skipped=$cur
          why=''${e_reason:-its boots never reached the default target (kernel panic, init crash or hang)}
        fi
        [ -n "$chosen" ] && system=$e_top
      fi
      if [ -z "$chosen" ]; then
        for n in $(for g in "$boot"/entries/system-*.conf; do g=''${g##*/system-}; echo "''${g%.conf}"; done | busybox sort -n -r); do
          read_entry "$boot/entries/system-$n.conf"
          if [ "$e_good" = 1 ] && has_init "$e_top"; then chosen=$n; system=$e_top; break; fi
        done
      fi
      if [ -n "$skipped" ]; then
        echo "b8g stage 1: skipping generation $skipped: $why; booting generation ''${chosen:-from the command line}" >/dev/console
      fi
      busybox printf 'generation=%s\nskipped=%s\nskipped_reason=%s\n' "$chosen" "$skipped" "$why" > "$boot/last-boot.tmp" \
        && busybox sync && busybox mv "$boot/last-boot.tmp" "$boot/last-boot" && busybox sync
    fi
    # init is a link to an absolute store path, which resolves only inside /sysroot.
    has_init "$system" || fail "$system/init not found on the root file system"
    mount --move /dev /sysroot/dev 2>/dev/null || true
    umount /proc /sys 2>/dev/null
    # Units come from /run/current-system (set by the generation's activate), so a
    # live switch (`b8gctl switch`) re-points them with the rest of the system.
    exec switch_root /sysroot "$system/init" --system "$system" --unit-dir /run/current-system/units
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
