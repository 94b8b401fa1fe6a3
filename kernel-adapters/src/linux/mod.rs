//! The Linux boot adapter: initramfs archives and a qemu runner.

pub mod initramfs;
pub mod qemu;
