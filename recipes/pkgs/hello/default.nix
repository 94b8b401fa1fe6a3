# hello: a small C program whose source lives in ./src, built in the sandbox
# by stdenv.mkDerivation with the seed toolchain. Output: $out/bin/hello.
{ stdenv }:
stdenv.mkDerivation {
  pname = "hello";
  version = "1.0";
  src = ./src;
  makeFlags = [ "PREFIX=$(out)" ];
}
