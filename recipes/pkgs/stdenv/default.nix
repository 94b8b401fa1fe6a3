# A small stdenv: `mkDerivation` runs setup.sh (unpack, patch, configure,
# build, check, install, fixup) with the seed busybox shell, the seed C
# toolchain (`bootstrap.cc`: cc, binutils, make) on PATH, CC/AR/... set,
# SOURCE_DATE_EPOCH from the sandbox and -ffile-prefix-map for the build
# directory. Attributes other than the ones handled here become environment
# variables, as with `derivation`; lists are joined with spaces.
#
#   mkDerivation {
#     pname; version; src;           # src: a directory or a tarball (tar xf)
#     patches ? [ ]; configureFlags ? [ ]; makeFlags ? [ ]; buildInputs ? [ ];
#     buildPhase ? <default: make>; installPhase ? <default: make install>; ...
#     preConfigure, postInstall, ...; doCheck ? false; dontStrip ? false;
#   }
{ bootstrap }:
let
  inherit (bootstrap) busybox cc busyboxBin;
  shell = "${busybox}/bin/sh";
  flag = b: if b then "1" else "";
in
{
  inherit cc shell;
  mkDerivation =
    { pname
    , version
    , doCheck ? false
    , dontStrip ? false
    , enableParallelBuilding ? true
    , ...
    }@args:
    derivation ((removeAttrs args [ "pname" "version" ]) // {
      name = "${pname}-${version}";
      inherit pname version;
      system = "x86_64-linux";
      builder = shell;
      args = [ ./setup.sh ];
      inherit busyboxBin;
      stdenvCc = cc;
      stdenvShell = shell;
      doCheck = flag doCheck;
      dontStrip = flag dontStrip;
      enableParallelBuilding = flag enableParallelBuilding;
    });
}
