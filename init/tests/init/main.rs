//! Integration tests: b8g-init runs as PID 1 under
//! `unshare --user --map-root-user --mount --pid --net --fork` over a temporary root,
//! driven through `b8gctl`. `unshare` (util-linux) is required; a missing one fails.

mod dbus;
mod devices;
mod generators;
mod harness;
mod logging;
mod notify_trust;
mod planted_files;
mod qemu;
mod qemu_debian;
mod sandbox;
mod scenarios;
mod systemctl;
mod systemd_semantics;
mod timers;
