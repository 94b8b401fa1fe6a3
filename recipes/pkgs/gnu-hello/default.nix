# GNU hello 2.10, an upstream autoconf program, from Debian's `hello` source
# package (the pinned upstream tarball, fetched with apt-get source), built by
# stdenv.mkDerivation with the seed toolchain. Output: $out/bin/hello and its
# manual and translations under $out/share.
{ stdenv, bootstrap }:
stdenv.mkDerivation {
  pname = "gnu-hello";
  version = "2.10";
  src = bootstrap.fetchDebSource bootstrap.pins.hello-source;
  # Its test suite needs a shell with `diff`; busybox's is enough.
  doCheck = true;
}
