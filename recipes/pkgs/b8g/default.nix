# b8g built by b8g: b8g-init and b8gctl, the b8g CLI and the unikernel shim,
# compiled in the build sandbox from this repository's source with Debian 12's
# Rust (rustc-web, cargo-web, from recipes/debian/lock.json) and the seed C
# toolchain, statically linked (they run as PID 1 and in systems with no libc
# of their own).
#
# The crates come from one fixed-output derivation in which that cargo runs
# `cargo vendor --locked`: cargo checks every crate against Cargo.lock's
# checksums, and ./vendor-hash.nix pins the whole tree. After a Cargo.lock
# change the build fails with the new hash: put it in ./vendor-hash.nix.
{ lib, bootstrap, debian, symlinkJoin, b8gTree }:
let
  root = ../../..;
  # The workspace without build results, VCS data or the recipes (which
  # change far more often than the code and are not part of it).
  keep = [ "Cargo.toml" "Cargo.lock" ".cargo" "store" "builder" "layout" "init" "kernel-adapters" "system" "cli" "xtask" ];
  src = builtins.path {
    name = "b8g-source";
    path = root;
    filter = path: type:
      let
        rel = lib.removePrefix (toString root + "/") (toString path);
        parts = lib.splitString "/" rel;
      in
      builtins.elem (builtins.head parts) keep && !(builtins.elem "target" parts);
  };
  version = (builtins.fromTOML (builtins.readFile ../../../Cargo.toml)).workspace.package.version;
  # rustc finds its standard library under its sysroot: both packages joined.
  rust = symlinkJoin { name = "rust-web"; paths = [ debian.rustc-web debian.cargo-web ]; };
  sh = bootstrap.busyboxBin;
  vendor = derivation {
    name = "b8g-cargo-vendor-${version}";
    system = "x86_64-linux";
    builder = sh;
    args = [ "sh" "-c" ''
      set -e
      export PATH=${bootstrap.busybox}/bin HOME=$TMPDIR CARGO_HOME=$TMPDIR/cargo-home
      # The host's certificate authorities, which the sandbox gives fixed-output builds.
      export CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt
      cp -r ${src} $TMPDIR/src
      chmod -R u+w $TMPDIR/src
      cd $TMPDIR/src
      ${rust}/bin/cargo vendor --locked --versioned-dirs $out > /dev/null
    '' ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = import ./vendor-hash.nix;
  };
in
derivation {
  name = "b8g-${version}";
  inherit version src vendor rust;
  system = "x86_64-linux";
  builder = sh;
  args = [ "sh" ./build.sh ];
  busybox = bootstrap.busybox;
  cc = bootstrap.cc;
}
