# Seeds as store paths: each pinned .deb is fetched by a fixed-output derivation
# (`builtin:b8g-fetch-deb`, which runs the host's `apt-get download` and is
# checked against the pinned hash) and unpacked in-process (`builtin:b8g-unpack-deb`).
{ b8gTree }:
let
  pins = import ./pins.nix;
  fetchDeb = pin: derivation {
    name = "${pin.package}.deb";
    system = "builtin";
    builder = "builtin:b8g-fetch-deb";
    inherit (pin) package version;
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = pin.sha256;
    preferLocalBuild = true;
  };
  unpackDeb = pin: derivation {
    name = "${pin.package}-unpacked";
    system = "builtin";
    builder = "builtin:b8g-unpack-deb";
    src = fetchDeb pin;
    preferLocalBuild = true;
  };
  busyboxDeb = unpackDeb pins.busybox-static;
  kernelDeb = unpackDeb pins.linux-image;
  # Applets linked in bin/; busybox-static provides all of them.
  applets = [
    "sh" "ash" "cat" "chmod" "chown" "cp" "cut" "date" "dd" "df" "dmesg" "echo" "env" "false" "find" "getty"
    "grep" "halt" "head" "hostname" "id" "ifconfig" "insmod" "ip" "kill" "ln" "login" "ls" "lsmod" "mkdir"
    "mknod" "modprobe" "mount" "mv" "nc" "ping" "poweroff" "printf" "ps" "pwd" "readlink" "reboot" "rm"
    "rmdir" "sed" "seq" "sleep" "sort" "stat" "su" "switch_root" "sync" "tail" "tar" "tee" "test" "touch"
    "tr" "true" "udhcpc" "umount" "uname" "uptime" "vi" "wc" "wget" "which" "xargs" "["
  ];
in
{
  inherit fetchDeb unpackDeb pins;
  busybox = b8gTree "busybox-${builtins.replaceStrings [ ":" ] [ "_" ] pins.busybox-static.version}"
    ({ "bin/busybox" = { type = "symlink"; target = "${busyboxDeb}/bin/busybox"; }; }
      // builtins.listToAttrs (map (a: { name = "bin/${a}"; value = { type = "symlink"; target = "busybox"; }; }) applets));
  linux = b8gTree "linux-${pins.linux-image.kernelVersion}" {
    vmlinuz = { type = "symlink"; target = "${kernelDeb}/boot/vmlinuz-${pins.linux-image.kernelVersion}"; };
    "lib/modules" = { type = "symlink"; target = "${kernelDeb}/lib/modules"; };
    version = { type = "file"; text = pins.linux-image.kernelVersion; };
  } // { version = pins.linux-image.kernelVersion; };
}
