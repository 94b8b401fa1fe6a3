# A minimal Linux kernel for one application, in the spirit of Lupine Linux:
# built from source in the sandbox (the pinned Debian linux-source seed, the
# version of the stock linux-image seed) with a configuration generated from
# what the application needs, and nothing else: no loadable modules, no swap,
# no multi-user (uids), no initrd decompressors (the unikernel's initramfs is
# an uncompressed cpio), no ACPI, no SMP, no debug information.
#
#   linuxUnikernel { network ? false; disk ? false; extraConfig ? ""; }
#
#   network      virtio-net over PCI, with IPv4 and Unix sockets
#   disk         the block layer and virtio-blk over PCI, ext2/3/4
#   extraConfig  more kconfig lines (`CONFIG_FOO=y`), each checked like the rest
#
# The console is the 8250 serial port (console=ttyS0) that qemu's pc and q35
# machines have from the first instruction; the unikernel's runner reads it.
# The shim's power-off through isa-debug-exit needs ioperm (X86_IOPL_IOPERM).
#
# The configuration is `make allnoconfig` with the generated lines as
# KCONFIG_ALLCONFIG (with EXPERT set, so that allnoconfig also turns off what
# is on by default), and every generated `=y` line must survive into .config:
# a symbol whose dependencies are missing fails the build instead of vanishing.
#
# Output: vmlinuz (bzImage), config (the full .config), version. The build is
# reproducible: fixed KBUILD_BUILD_{TIMESTAMP,USER,HOST,VERSION}, relative
# source paths, no build ids or module signing keys.
{ stdenv, bootstrap }:
{ network ? false, disk ? false, extraConfig ? "" }:
let
  inherit (bootstrap) seeds linuxSource;
  lines = builtins.concatStringsSep "\n";
  base = [
    # allnoconfig then turns off the options that default to on for non-experts.
    "CONFIG_EXPERT=y"
    "CONFIG_64BIT=y"
    "CONFIG_PRINTK=y"
    "CONFIG_PRINTK_TIME=y"
    "CONFIG_BUG=y"
    # Console: the first serial port.
    "CONFIG_TTY=y"
    "CONFIG_SERIAL_8250=y"
    "CONFIG_SERIAL_8250_CONSOLE=y"
    # The image is one uncompressed initramfs: no RD_* decompressors.
    "CONFIG_BLK_DEV_INITRD=y"
    "CONFIG_BINFMT_ELF=y"
    "CONFIG_BINFMT_SCRIPT=y"
    # What the shim mounts, and what programs commonly expect of Linux.
    "CONFIG_PROC_FS=y"
    "CONFIG_PROC_SYSCTL=y"
    "CONFIG_SYSFS=y"
    "CONFIG_DEVTMPFS=y"
    "CONFIG_TMPFS=y"
    "CONFIG_SHMEM=y"
    "CONFIG_FUTEX=y"
    "CONFIG_EPOLL=y"
    "CONFIG_EVENTFD=y"
    "CONFIG_SIGNALFD=y"
    "CONFIG_TIMERFD=y"
    "CONFIG_POSIX_TIMERS=y"
    "CONFIG_FILE_LOCKING=y"
    "CONFIG_AIO=y"
    "CONFIG_ADVISE_SYSCALLS=y"
    "CONFIG_INOTIFY_USER=y"
    # The shim writes the app's exit status to qemu's isa-debug-exit port.
    "CONFIG_X86_IOPL_IOPERM=y"
    # No ORC tables (smaller); objtool still runs, as x86_64 always needs it.
    "CONFIG_UNWINDER_GUESS=y"
    # busybox's gzip compresses the image; the kernel decompresses it itself.
    "CONFIG_KERNEL_GZIP=y"
  ];
  pci = [ "CONFIG_PCI=y" "CONFIG_VIRTIO_MENU=y" "CONFIG_VIRTIO_PCI=y" ];
  net = [
    "CONFIG_NET=y"
    "CONFIG_INET=y"
    "CONFIG_UNIX=y"
    "CONFIG_NETDEVICES=y"
    "CONFIG_NET_CORE=y"
    "CONFIG_VIRTIO_NET=y"
  ];
  blk = [ "CONFIG_BLOCK=y" "CONFIG_BLK_DEV=y" "CONFIG_VIRTIO_BLK=y" "CONFIG_EXT4_FS=y" ];
  fragment = lines (base
    ++ (if network || disk then pci else [ ])
    ++ (if network then net else [ ])
    ++ (if disk then blk else [ ])) + "\n" + extraConfig + "\n";
  # kbuild's bash scripts (scripts/check-local-export) keep bash; the rest get
  # the busybox shell. Neither /bin/sh nor /usr/bin/env exists in the sandbox.
  sh = "${bootstrap.busybox}/bin/sh";
  bash = "${seeds.bash}/bin/bash";
  cc = stdenv.cc;
in
(stdenv.mkDerivation {
  pname = "linux-unikernel";
  inherit (linuxSource) version;
  src = linuxSource.tarball;
  inherit fragment;
  # The sandbox has no /bin/sh: kconfig's $(shell,...) used popen(), which runs
  # it, and the top Makefile's call into tools/ (objtool) drops SHELL.
  patches = [ ./no-bin-sh.patch ];
  flex = seeds.flex;
  bison = seeds.bison;
  m4 = seeds.m4;
  libelf = seeds.libelf;
  inherit sh bash;

  unpackPhase = ''
    cd "$NIX_BUILD_TOP"
    # The documentation is a third of the tree and is not needed; only its
    # Kconfig is sourced, and holds documentation-check options alone.
    "$stdenvCc/bin/tar" xf "$src" --exclude='*/Documentation'
    cd linux-source-*
    mkdir Documentation
    : > Documentation/Kconfig
    find . -type f -perm -u+x | while read -r f; do
      case "$(head -c 24 "$f")" in
        "#!/bin/bash"* | "#!/usr/bin/env bash"*)
          sed -i -e "1s|^#! *[^ ]*\(/env\)\{0,1\} *bash|#!$bash|" "$f" ;;
        "#!/bin/sh"* | "#! /bin/sh"* | "#!/usr/bin/env sh"*)
          sed -i -e "1s|^#! *[^ ]*\(/env\)\{0,1\} *sh|#!$sh|" "$f" ;;
      esac
    done
  '';

  configurePhase = ''
    unset CFLAGS CPPFLAGS LDFLAGS
    export M4=$m4/bin/m4 BISON_PKGDATADIR=$bison/share/bison
    export KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M:%S')"
    export KBUILD_BUILD_USER=b8g KBUILD_BUILD_HOST=b8g KBUILD_BUILD_VERSION=1
    # Every tool by path: make runs recipes through a shell, and the busybox
    # shell would prefer its own `ar` and `strings` applets to PATH.
    kmake() {
      make ARCH=x86_64 SHELL="$bash" CONFIG_SHELL="$bash" \
        CC="$stdenvCc/bin/cc" HOSTCC="$stdenvCc/bin/cc" LD="$stdenvCc/bin/ld" \
        AR="$stdenvCc/bin/ar" NM="$stdenvCc/bin/nm" OBJCOPY="$stdenvCc/bin/objcopy" \
        OBJDUMP="$stdenvCc/bin/objdump" READELF="$stdenvCc/bin/readelf" STRIP="$stdenvCc/bin/strip" \
        LEX="$flex/bin/flex" YACC="$bison/bin/bison" \
        HOSTCFLAGS="-I$libelf/include" \
        HOSTLDFLAGS="-L$libelf/lib/x86_64-linux-gnu -Wl,-rpath,$libelf/lib/x86_64-linux-gnu" \
        "$@"
    }
    printf '%s' "$fragment" > "$NIX_BUILD_TOP/unikernel.config"
    kmake KCONFIG_ALLCONFIG="$NIX_BUILD_TOP/unikernel.config" allnoconfig
    missing=
    while read -r l; do
      case $l in
        CONFIG_*=y) grep -qx "$l" .config || missing="$missing $l" ;;
      esac
    done < "$NIX_BUILD_TOP/unikernel.config"
    if [ -n "$missing" ]; then
      echo "kernel configuration: not satisfiable (missing dependencies?):$missing" >&2
      exit 1
    fi
    for no in CONFIG_MODULES CONFIG_SWAP CONFIG_MULTIUSER CONFIG_DEBUG_INFO; do
      if grep -q "^$no=y" .config; then echo "kernel configuration: $no is on" >&2; exit 1; fi
    done
  '';

  buildPhase = ''
    kmake -j"$jobs" bzImage
  '';

  installPhase = ''
    mkdir -p "$out"
    cp arch/x86/boot/bzImage "$out/vmlinuz"
    cp .config "$out/config"
    kmake -s kernelrelease > "$out/version"
  '';
}) // {
  # Everything the image needs is built in: the unikernel recipe loads no modules.
  virtioBuiltin = true;
  inherit network disk;
}
