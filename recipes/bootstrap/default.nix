# Seeds as store paths: each pinned .deb is fetched by a fixed-output derivation
# (`builtin:b8g-fetch-deb`, which runs the host's `apt-get download` and is
# checked against the pinned hash) and unpacked in-process (`builtin:b8g-unpack-deb`).
#
# `debPackage` then lays unpacked packages out as a store path that needs
# nothing from the host: `usr/` merged into the top, absolute symlinks pointed
# into the store, and every dynamic ELF file given the store's glibc ld.so as
# interpreter and a RUNPATH of the store paths of its libraries (rewritten by
# Debian's patchelf, itself run through the seed ld.so, in the sandbox with the
# static busybox as the only shell). `seeds.<name>` are the pinned packages laid
# out this way, with their library dependencies.
{ b8gTree }:
let
  # A local, untracked override (`pins.override.nix`, written by `cargo xtask
  # demo|test` or `b8g bootstrap lock --override`) replaces pins that have left
  # Debian's archive; evaluation says so whenever an overridden pin is used (and only
  # then: a system that needs none of them is not warned about them).
  committed = import ./pins.nix;
  overridden =
    if builtins.pathExists ./pins.override.nix then import ./pins.override.nix else { };
  pins = committed // builtins.mapAttrs
    (n: pin: builtins.trace
      "warning: recipes/bootstrap/pins.override.nix replaces the committed pin of ${n} (${committed.${n}.version or "new"} -> ${pin.version})"
      pin)
    overridden;
  fetchDeb = pin: derivation ({
    name = "${pin.package}.deb";
    system = "builtin";
    builder = "builtin:b8g-fetch-deb";
    inherit (pin) package version;
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = pin.sha256;
    preferLocalBuild = true;
  } // (if pin ? lockCommand then { inherit (pin) lockCommand; } else { }));
  unpackDeb = pin: derivation {
    name = "${pin.package}-unpacked";
    system = "builtin";
    builder = "builtin:b8g-unpack-deb";
    src = fetchDeb pin;
    preferLocalBuild = true;
  };
  # One file of a Debian source package (`{ source; version; file; sha256; }`),
  # downloaded with apt-get source through deb-src entries derived from the
  # host's sources at run time (`builtin:b8g-fetch-deb-source`).
  fetchDebSource = pin: derivation {
    name = pin.file;
    system = "builtin";
    builder = "builtin:b8g-fetch-deb-source";
    package = pin.source;
    inherit (pin) version file;
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = pin.sha256;
    preferLocalBuild = true;
  };
  # Unpacked, untouched packages, by pin name.
  raw = builtins.mapAttrs (_: unpackDeb) pins;
  busyboxDeb = raw.busybox-static;
  busyboxBin = "${busyboxDeb}/bin/busybox";

  # Debian's patchelf run from the unpacked packages through their ld.so: it
  # needs no rewriting of its own, so the seeds do not depend on themselves.
  patchelfCmd =
    let libc = raw.libc6; in
    "${libc}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path "
    + "${libc}/lib/x86_64-linux-gnu:${raw."libstdc++6"}/usr/lib/x86_64-linux-gnu:${raw.libgcc-s1}/lib/x86_64-linux-gnu "
    + "${raw.patchelf}/usr/bin/patchelf";

  # The store's dynamic loader: every rewritten program names it as interpreter.
  interpreter = "${seeds.libc6}/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

  # `debPackage { name; debs = [ pin ... ]; deps = [ laid-out store paths ]; }`:
  # one store path from one or more Debian packages (see the file comment).
  # `rewriteElf = false` only copies and merges (glibc itself).
  debPackage = { name, debs, deps ? [ ], rewriteElf ? true, libSubdirs ? [ ] }: derivation {
    inherit name deps libSubdirs;
    system = "x86_64-linux";
    builder = busyboxBin;
    args = [ "sh" ./deb-package.sh ];
    busybox = busyboxBin;
    srcs = map unpackDeb debs;
    rewriteElf = if rewriteElf then "1" else "";
    interpreter = if rewriteElf then interpreter else "";
    patchelf = if rewriteElf then patchelfCmd else "";
  };

  # Which pinned packages make each seed, and the seeds it links against.
  layout = with seeds; {
    libc6 = { debs = [ "libc6" ]; rewriteElf = false; };
    libgcc-s1 = { deps = [ libc6 ]; };
    "libstdc++6" = { deps = [ libc6 libgcc-s1 ]; };
    patchelf = { deps = [ libc6 libgcc-s1 seeds."libstdc++6" ]; };
    zlib1g = { deps = [ libc6 ]; };
    libcrypt1 = { deps = [ libc6 ]; };
    libpcre2-8-0 = { deps = [ libc6 ]; };
    libssl3 = { deps = [ libc6 ]; };
    libzstd1 = { deps = [ libc6 ]; };
    libjansson4 = { deps = [ libc6 ]; };
    libgmp10 = { deps = [ libc6 ]; };
    libmpfr6 = { deps = [ libc6 libgmp10 ]; };
    libmpc3 = { deps = [ libc6 libgmp10 libmpfr6 ]; };
    libisl23 = { deps = [ libc6 libgmp10 ]; };
    make = { deps = [ libc6 ]; };
    libacl1 = { deps = [ libc6 ]; };
    libselinux1 = { deps = [ libc6 libpcre2-8-0 ]; };
    # GNU tar: busybox's cannot read old (pre-POSIX) archives such as GNU hello's.
    tar = { deps = [ libc6 libacl1 libselinux1 ]; };
    # sudo and PAM (security.sudo). pam_userdb.so's libdb is left out: b8g's PAM
    # configuration does not use it.
    libcap-ng0 = { deps = [ libc6 ]; };
    libaudit1 = { deps = [ libc6 libcap-ng0 ]; };
    libpam0g = { deps = [ libc6 libaudit1 ]; };
    libpam-modules = { deps = [ libc6 libpam0g libaudit1 libcrypt1 libselinux1 ]; };
    # libsudo_util and the plugins live in libexec/sudo.
    sudo = { deps = [ libc6 libaudit1 libselinux1 zlib1g libpam0g ]; libSubdirs = [ "libexec/sudo" ]; };
    # OpenSSH (services.openssh): sshd, ssh-keygen, ssh and sftp-server in one path,
    # with what sshd links (Kerberos, tcp-wrappers, libsystemd for sd_notify).
    libcom-err2 = { deps = [ libc6 ]; };
    libkeyutils1 = { deps = [ libc6 ]; };
    libkrb5support0 = { deps = [ libc6 ]; };
    libk5crypto3 = { deps = [ libc6 libkrb5support0 ]; };
    libkrb5-3 = { deps = [ libc6 libcom-err2 libk5crypto3 libkeyutils1 libkrb5support0 libssl3 ]; };
    libgssapi-krb5-2 = { deps = [ libc6 libcom-err2 libk5crypto3 libkrb5-3 libkrb5support0 ]; };
    libtirpc3 = { debs = [ "libtirpc3" "libtirpc-common" ]; deps = [ libc6 libgssapi-krb5-2 ]; };
    libnsl2 = { deps = [ libc6 libtirpc3 ]; };
    libwrap0 = { deps = [ libc6 libnsl2 ]; };
    libgpg-error0 = { deps = [ libc6 ]; };
    libgcrypt20 = { deps = [ libc6 libgpg-error0 ]; };
    libcap2 = { deps = [ libc6 ]; };
    liblz4-1 = { deps = [ libc6 ]; };
    liblzma5 = { deps = [ libc6 ]; };
    libsystemd0 = { deps = [ libc6 libcap2 libgcrypt20 liblz4-1 liblzma5 libzstd1 ]; };
    openssh = {
      debs = [ "openssh-server" "openssh-client" "openssh-sftp-server" ];
      deps = [ libc6 libcrypt1 libwrap0 libaudit1 libpam0g libsystemd0 libselinux1 libgssapi-krb5-2 libkrb5-3 libcom-err2 libssl3 zlib1g ];
    };
    nginx = {
      debs = [ "nginx" "nginx-common" ];
      deps = [ libc6 libcrypt1 libpcre2-8-0 libssl3 zlib1g ];
    };
    # The C toolchain: gcc's driver finds cc1, collect2, crtbegin.o and libgcc
    # relative to its own location, so gcc-12 and cpp-12 share one store path.
    gcc = {
      debs = [ "gcc-12" "cpp-12" "gcc-12-base" "libcc1-0" "libgcc-12-dev" "libgomp1" "libatomic1" "libquadmath0" ];
      deps = [ libc6 libgcc-s1 seeds."libstdc++6" libgmp10 libisl23 libmpc3 libmpfr6 libzstd1 zlib1g ];
    };
    binutils = {
      debs = [ "binutils" "binutils-common" "binutils-x86-64-linux-gnu" "libbinutils" "libctf0" "libctf-nobfd0" "libgprofng0" ];
      deps = [ libc6 libgcc-s1 seeds."libstdc++6" libjansson4 libzstd1 zlib1g ];
    };
    # What building a kernel from source needs beyond the C toolchain and busybox
    # (recipes/pkgs/linux-unikernel): kconfig's lexer and parser generators,
    # bash for kbuild's bash scripts, libelf's library and headers for objtool.
    m4 = { deps = [ libc6 ]; };
    flex = { deps = [ libc6 ]; };
    bison = { deps = [ libc6 ]; };
    libtinfo6 = { deps = [ libc6 ]; };
    bash = { deps = [ libc6 libtinfo6 ]; };
    libelf = { debs = [ "libelf1" "libelf-dev" ]; deps = [ libc6 zlib1g ]; };
    # glibc's headers, crt files and link-time libraries (with the kernel's headers).
    libc-dev = {
      debs = [ "libc6-dev" "libc-dev-bin" "linux-libc-dev" "libcrypt-dev" "libnsl-dev" "libnsl2" "libtirpc-dev" "libtirpc3" "rpcsvc-proto" ];
      deps = [ libc6 libcrypt1 ];
    };
  };
  seeds = builtins.mapAttrs
    (name: l: debPackage {
      name = "${name}-${builtins.replaceStrings [ ":" "~" ] [ "_" "_" ] pins.${builtins.head (l.debs or [ name ])}.version}";
      debs = map (d: pins.${d}) (l.debs or [ name ]);
      deps = l.deps or [ ];
      rewriteElf = l.rewriteElf or true;
      libSubdirs = l.libSubdirs or [ ];
    })
    layout;

  # Applets linked in bin/; busybox-static provides all of them. fdisk, mkdosfs,
  # mke2fs and findfs: installing onto a disk by hand from a running system.
  applets = [
    "sh" "ash" "cat" "chmod" "chown" "cp" "cut" "date" "dd" "df" "dirname" "dmesg" "echo" "env" "false" "fdisk" "find" "findfs" "getty"
    "grep" "halt" "head" "hostname" "id" "ifconfig" "insmod" "ip" "kill" "ln" "login" "ls" "lsmod" "mkdir" "mkdosfs" "mke2fs" "mkpasswd" "mkswap"
    "mknod" "modprobe" "mount" "mv" "nc" "nologin" "passwd" "ping" "poweroff" "printf" "ps" "pwd" "readlink" "reboot" "rm"
    "rmdir" "sed" "seq" "sleep" "sort" "stat" "su" "swapoff" "swapon" "switch_root" "sync" "tail" "tar" "tee" "test" "touch"
    "tr" "true" "udhcpc" "umount" "uname" "uptime" "vi" "wc" "wget" "which" "xargs" "["
  ];
  kernelDeb = raw.linux-image;
  # A kernel package from a pinned linux-image: its image and modules.
  kernelTree = pin: deb: b8gTree "linux-${pin.kernelVersion}" {
    vmlinuz = { type = "symlink"; target = "${deb}/boot/vmlinuz-${pin.kernelVersion}"; };
    "lib/modules" = { type = "symlink"; target = "${deb}/lib/modules"; };
    version = { type = "file"; text = pin.kernelVersion; };
  } // { version = pin.kernelVersion; };

  # Low priority (nixpkgs' lowPrio) in profiles: a real program (Debian's wget,
  # less, vi) wins over the applet of the same name.
  busybox = b8gTree "busybox-${builtins.replaceStrings [ ":" ] [ "_" ] pins.busybox-static.version}"
    ({ "bin/busybox" = { type = "symlink"; target = "${busyboxDeb}/bin/busybox"; }; }
      // builtins.listToAttrs (map (a: { name = "bin/${a}"; value = { type = "symlink"; target = "busybox"; }; }) applets))
    // { meta.priority = 10; };

  # The seed C toolchain: bin/{cc,gcc,cpp,as,ld,ar,...,make}. `cc` is gcc 12
  # with glibc's headers, crt files and store-path linker scripts; what it links
  # runs with the store's ld.so and glibc (see cc.sh).
  cc = derivation {
    name = "seed-cc-${pins.gcc-12.version}";
    system = "x86_64-linux";
    builder = busyboxBin;
    args = [ "sh" ./cc.sh ];
    busybox = busyboxBin;
    shell = busybox;
    inherit (seeds) gcc binutils make tar;
    libc = seeds.libc6;
    libgccS = seeds.libgcc-s1;
    libcDev = seeds.libc-dev;
    inherit interpreter;
  };
in
{
  inherit fetchDeb fetchDebSource unpackDeb pins raw debPackage seeds interpreter busyboxBin busybox cc;
  # The kernel source of the pinned linux-image (Debian's linux-source-6.1:
  # the upstream tree with Debian's patches applied, as one tar.xz).
  linuxSource = {
    tarball = "${raw.linux-source}/usr/src/linux-source-6.1.tar.xz";
    version = builtins.head (builtins.split "-" pins.linux-source.version);
  };
  # systemd-boot's EFI program, from Debian's systemd-boot-efi.
  systemd-boot = b8gTree "systemd-boot-${builtins.replaceStrings [ "~" ] [ "_" ] pins.systemd-boot-efi.version}" {
    "systemd-bootx64.efi" = { type = "symlink"; target = "${raw.systemd-boot-efi}/usr/lib/systemd/boot/efi/systemd-bootx64.efi"; };
  };
  # The IANA time zone database from Debian's tzdata: share/zoneinfo.
  tzdata = b8gTree "tzdata-${pins.tzdata.version}" {
    "share/zoneinfo" = { type = "symlink"; target = "${raw.tzdata}/usr/share/zoneinfo"; };
  };
  linux = kernelTree pins.linux-image kernelDeb;
  # Debian's cloud kernel (virtio, no desktop hardware): another kernel for the same machines.
  linux-cloud = kernelTree pins.linux-image-cloud raw.linux-image-cloud;
}
