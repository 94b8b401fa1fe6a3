//! b8g-system: the system pipeline, from a configuration file to generations
//! on a machine.
//!
//! - [`build`]: evaluate a system configuration with `recipes/`, realise it
//!   with the adapters' builtin builders, write its root image; the options
//!   documentation of the system modules.
//! - [`file`]: what a FILE given to `b8g-build` is (a module, or derivations).
//! - [`derivation_file`]: build a file that evaluates to one derivation (an
//!   image file such as `images/unikernel-hello.nix`) instead of a module.
//! - [`install`]: a system onto a disk (GPT, EFI system partition with
//!   systemd-boot, ext4 root), as `nixos-install`.
//! - [`generations`]: the system profile, boot entries, diffs between
//!   generations, whole-system snapshots.
//!
//! It does not boot or assemble images itself (b8g-kernel-adapters does) and
//! does not activate anything on a running machine (`b8gctl switch` does).

pub mod build;
pub mod derivation_file;
pub mod file;
pub mod generations;
pub mod install;
pub mod targets;
