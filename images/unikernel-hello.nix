# A unikernel: one static program as the only process of a VM, behind the
# b8g-unikernel-shim. `b8g-build images/unikernel-hello.nix` gives a kernel and
# one initramfs; `b8g run-vm images/unikernel-hello.nix` boots it under qemu
# (TCG) and exits with the program's exit status.
#
# `pkgs` needs b8g's static binaries (the shim): `--arg b8gBin DIR`, or
# B8G_INIT_BIN in the environment (`cargo xtask demo` prepares target/b8g-bin).
{ b8gBin ? let d = builtins.getEnv "B8G_INIT_BIN"; in if d == "" then null else /. + d
, pkgs ? import ../recipes/pkgs { inherit b8gBin; }
  # "minimal": a kernel built from source for this app; "stock": Debian's kernel seed
, kernel ? "minimal"
}:
import ../recipes/unikernel { inherit pkgs; } {
  inherit kernel;
  name = "unikernel-hello";
  app = "${pkgs.busybox}/bin/busybox";
  args = [ "echo" "hello from a b8g unikernel" ];
}
