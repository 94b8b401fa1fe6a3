# The b8g package set: build helpers, bootstrap seeds and packages built from them.
# `overlays` are applied in order (final: prev: { ... }), as in nixpkgs.
{ overlays ? [ ], b8gBin ? null }:
let
  lib = import ../lib;
  base = final: (import ./build-support { inherit lib; inherit (final) runtimeShell; }) // {
    inherit lib;
    runtimeShell = "${final.busybox}/bin/sh";
    # b8g's own binaries (b8g-init, b8gctl, b8g, the unikernel shim), built from
    # this repository's source in the sandbox (./b8g); for development a directory
    # of host-built static binaries enters the store by content instead
    # (`--arg b8gBin <dir with bin/b8g-init>`, b8g-build's --b8g-bin).
    b8g-from-source = import ./b8g { inherit lib; inherit (final) bootstrap debian symlinkJoin b8gTree; };
    b8g =
      if b8gBin == null then final.b8g-from-source
      else builtins.path { path = b8gBin; name = "b8g-init"; };
    # The shim alone, for unikernels: the whole directory (with the 17 MB b8g CLI)
    # would not unpack in a 64 MiB guest.
    b8g-unikernel-shim =
      if b8gBin == null then derivation {
        name = "b8g-unikernel-shim";
        system = "x86_64-linux";
        builder = final.bootstrap.busyboxBin;
        args = [ "cp" "${final.b8g-from-source}/bin/b8g-unikernel-shim" (placeholder "out") ];
      }
      else builtins.path { path = b8gBin + "/bin/b8g-unikernel-shim"; name = "b8g-unikernel-shim"; };
    bootstrap = import ../bootstrap { inherit (final) b8gTree; };
    inherit (final.bootstrap) busybox linux linux-cloud systemd-boot tzdata;
    nginx = import ./nginx { inherit (final) bootstrap; };
    # OpenSSH 9.2 from Debian 12: sbin/sshd, bin/ssh-keygen, bin/ssh, lib/openssh/sftp-server.
    # ssh's and sftp's line editing and FIDO keys (libedit, libfido2) are not included.
    openssh = final.bootstrap.seeds.openssh;
    # Debian 12's binary packages pinned in recipes/debian/lock.json, each with its
    # dependencies (`b8g bootstrap add-debian NAME` adds one).
    debian = import ../debian { inherit lib; inherit (final) bootstrap symlinkJoin b8gTree; };
    stdenv = import ./stdenv { inherit (final) bootstrap; };
    hello = import ./hello { inherit (final) stdenv; };
    gnu-hello = import ./gnu-hello { inherit (final) stdenv bootstrap; };
  };
in
lib.fix (lib.extends (lib.composeManyExtensions overlays) base)
