# `unikernel { app; args ? []; env ? {}; files ? {}; memory ? <64M or 128M>; network ? null; kernel ? "minimal"; }`:
# one application as the only program of a VM. The result is a directory with
# `kernel`, `initrd` (one reproducible cpio: b8g-unikernel-shim as /init, the
# app's store closure, the kernel modules it needs, the shim's configuration)
# and `manifest` (memory, machine, kernel command line, qemu devices), built by
# `builtin:b8g-unikernel`. `b8g run-vm` boots it and exits with the app's status.
#
#   app      absolute path of the program (a store path, e.g. "${pkgs.busybox}/bin/busybox")
#   args     its arguments (argv[1..])
#   env      its whole environment (PATH defaults to the app's directory, HOME to /)
#   files    extra files by absolute path: a string (the contents),
#            { text; mode ? "644"; } or { source = <store path, file or directory>; }
#   memory   guest memory ("64M", "1G"); by default 64M, or 128M for the stock
#            Debian kernel (its decompressed image does not fit in 64M)
#   network  null (no NIC) or { address ? "10.0.2.15/24"; gateway ? "10.0.2.2";
#            forwards ? [ { host = 8080; guest = 80; } ]; } on qemu's user-mode network
#   kernelParams  extra kernel command line words; no_timer_check skips the IO-APIC
#            timer test, which fails now and then under a loaded TCG host
#   kernel   "minimal" (the default): a kernel built from source for this image
#            (recipes/pkgs/linux-unikernel: no modules, PCI and virtio-net only
#            when `network` is set); "stock": Debian's kernel seed, for
#            comparison, whose virtio drivers the shim loads as modules; or any
#            package with `vmlinuz` (and `lib/modules/<version>` unless it has
#            `virtioBuiltin = true`)
{ pkgs }:
let
  esc = builtins.replaceStrings [ "\\" "\n" "\t" ] [ "\\\\" "\\n" "\\t" ];
  line = k: v: "${k}=${esc v}\n";
  concat = f: l: builtins.concatStringsSep "" (map f l);
in
{ app
, args ? [ ]
, env ? { }
, files ? { }
, memory ? null
, network ? null
, kernel ? "minimal"
, kernelModules ? null
, kernelParams ? [ "quiet" "no_timer_check" ]
, machine ? "pc"
, name ? "unikernel"
}:
let
  kernelPkg =
    if kernel == "minimal" then
      import ../pkgs/linux-unikernel { inherit (pkgs) stdenv bootstrap; } { network = network != null; }
    else if kernel == "stock" then pkgs.linux
    else kernel;
  mem = if memory != null then memory else if kernelPkg.virtioBuiltin or false then "64M" else "128M";
  net = if network == null then null else {
    interface = "eth0";
    address = "10.0.2.15/24";
    gateway = "10.0.2.2";
    forwards = [ ];
  } // network;
  # The stock kernel has the virtio PCI transport and virtio-net as modules.
  modules =
    if kernelModules != null then kernelModules
    else if net != null && !(kernelPkg.virtioBuiltin or false) then [ "virtio_pci" "virtio_net" ]
    else [ ];
  fullEnv = { PATH = dirOf app; HOME = "/"; } // env;
  config = line "app" app
    + concat (line "arg") args
    + concat (n: line "env" "${n}=${fullEnv.${n}}") (builtins.attrNames fullEnv)
    + (if net == null then "" else
      line "net.interface" net.interface
      + line "net.address" net.address
      + (if net.gateway == null then "" else line "net.gateway" net.gateway));
  layoutLine = dest:
    let v = files.${dest}; in
    if builtins.isString v then "text\t${esc dest}\t644\t${esc v}\n"
    else if v ? source then "copy\t${esc dest}\t${toString v.source}\n"
    else "text\t${esc dest}\t${v.mode or "644"}\t${esc v.text}\n";
  netArgs = if net == null then [ ] else [
    "-netdev"
    ("user,id=n0" + concat (f: ",hostfwd=tcp:127.0.0.1:${toString f.host}-:${toString f.guest}") net.forwards)
    "-device"
    "virtio-net-pci,netdev=n0"
  ];
  manifest = line "memory" mem
    + line "machine" machine
    + concat (line "append") kernelParams
    + concat (line "qemu-arg") ([ "-device" "isa-debug-exit,iobase=0xf4,iosize=0x04" ] ++ netArgs);
in
derivation {
  inherit name config manifest;
  kernel = kernelPkg;
  system = "builtin";
  builder = "builtin:b8g-unikernel";
  shim = "${pkgs.b8g-unikernel-shim}";
  storeDir = builtins.storeDir;
  roots = app;
  modules = builtins.concatStringsSep " " modules;
  layout = concat layoutLine (builtins.attrNames files);
  preferLocalBuild = true;
}
