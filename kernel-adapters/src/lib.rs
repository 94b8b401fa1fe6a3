//! b8g-kernel-adapters: turn a system closure into something a machine boots.
//!
//! `linux` writes reproducible stage-1 initramfs archives and runs the result
//! under qemu. It does not evaluate Nix or build anything; it is handed files.

pub mod build;
pub mod generations;
pub mod linux;
pub mod unikernel;
