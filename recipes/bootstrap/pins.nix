# Bootstrap seeds: Debian 12 binary packages pinned by name, version and sha256.
# Regenerate with `b8g bootstrap lock` after `apt-get update` when the archive
# has moved on (it serves only current versions).
{
  busybox-static = {
    package = "busybox-static";
    version = "1:1.35.0-4+deb12u1+b1";
    sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744";
  };
  linux-image = {
    package = "linux-image-6.1.0-56-amd64";
    version = "6.1.192-2";
    sha256 = "a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1";
    kernelVersion = "6.1.0-56-amd64";
  };
}
