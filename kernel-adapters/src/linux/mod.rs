//! The Linux boot adapter: kernel modules, the stage-1 initramfs and a qemu runner.

pub mod image;
pub mod initramfs;
pub mod kernel_tree;
pub mod modules;
pub mod qemu;
pub mod stage1;
pub mod system;
