# A unikernel serving HTTP: busybox httpd as the only process, with a static
# address on qemu's user-mode network and guest port 80 forwarded to
# 127.0.0.1:8080 on the host (`--arg hostPort N` changes it). Try
# `b8g run-vm images/unikernel-http.nix` and `curl http://127.0.0.1:8080/`;
# httpd logs each request (`response:200`) on the console.
{ b8gBin ? let d = builtins.getEnv "B8G_INIT_BIN"; in if d == "" then null else /. + d
, pkgs ? import ../recipes/pkgs { inherit b8gBin; }
  # "minimal": a kernel built from source for this app; "stock": Debian's kernel seed
, kernel ? "minimal"
, hostPort ? 8080
}:
import ../recipes/unikernel { inherit pkgs; } {
  inherit kernel;
  name = "unikernel-http";
  app = "${pkgs.busybox}/bin/busybox";
  args = [ "httpd" "-f" "-vv" "-p" "80" "-h" "/www" ];
  files."/www/index.html" = "hello over http from a b8g unikernel\n";
  network.forwards = [ { host = hostPort; guest = 80; } ];
}
