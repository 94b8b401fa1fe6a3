//! b8g-layout: the formats that two sides of b8g write and read, each in one
//! place as a type with `parse` and `render` (or as the names it is made of).
//!
//! - [`generation`]: where profiles, generation links, boot entries and the
//!   boot record live, and the files of a system toplevel that others read.
//! - [`boot_entry`]: a generation's boot entry (`system-N.conf`) and stage 1's
//!   record of the last boot, both [`kv`] files.
//! - [`date`]: a generation's date as boot menus show it.
//! - [`loader`]: generations' systemd-boot entries and their boot counters.
//! - [`unikernel`]: the shim's configuration lines and what it prints on the
//!   console (the exec marker, the exit line, the `isa-debug-exit` code).
//!
//! It does no I/O and depends on nothing but std, so b8g-init and the static
//! unikernel shim can use it. Stage 1 is a busybox script
//! (`recipes/modules/system/initrd.nix`) and keeps its own copy of the entry
//! format; b8g-kernel-adapters' `stage1_layout` test holds it to this crate.

pub mod boot_entry;
pub mod date;
pub mod generation;
pub mod kv;
pub mod loader;
pub mod unikernel;
