# <nix/fetchurl.nix>: Nix's built-in fixed-output fetch derivation, with each way of giving the hash.
let f = import <nix/fetchurl.nix>;
in map (d: [ d.drvPath d.outPath ]) [
  (f { url = "http://example.org/x.tar.gz"; sha256 = "0000000000000000000000000000000000000000000000000000"; })
  (f { url = "http://example.org/x.tar.gz"; hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; unpack = true; })
  (f { url = "http://example.org/tool"; sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; executable = true; name = "tool-1"; })
  (f { url = "http://example.org/y"; sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"; })
  (f { url = "http://example.org/z"; md5 = "d41d8cd98f00b204e9800998ecf8427e"; })
]
