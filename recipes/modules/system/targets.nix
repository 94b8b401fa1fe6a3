# The standard targets every system has, named as in systemd so upstream unit files fit.
{ lib, ... }:
let t = description: extra: { inherit description; } // extra;
in
{
  config.systemd.targets = lib.mapAttrs (_: lib.mkDefault) {
    sysinit = t "System Initialization" { wants = [ "local-fs.target" "swap.target" ]; after = [ "local-fs.target" "swap.target" ]; };
    swap = t "Swaps" { };
    local-fs = t "Local File Systems" { };
    remote-fs = t "Remote File Systems" { };
    basic = t "Basic System" { requires = [ "sysinit.target" ]; wants = [ "sockets.target" "timers.target" ]; after = [ "sysinit.target" "sockets.target" "timers.target" ]; };
    sockets = t "Sockets" { };
    timers = t "Timers" { };
    network-pre = t "Preparation for Network" { };
    network = t "Network" { after = [ "network-pre.target" ]; };
    network-online = t "Network is Online" { after = [ "network.target" ]; };
    nss-lookup = t "Host and Network Name Lookups" { };
    time-sync = t "System Time Synchronized" { };
    getty = t "Login Prompts" { };
    multi-user = t "Multi-User System" { requires = [ "basic.target" ]; wants = [ "getty.target" ]; after = [ "basic.target" ]; };
    shutdown = t "System Shutdown" { };
  };
}
