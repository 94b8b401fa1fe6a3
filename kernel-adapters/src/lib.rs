//! b8g-kernel-adapters: turn a system closure into something a machine boots.
//!
//! `linux` writes reproducible stage-1 initramfs archives and root images and
//! runs the result under qemu; `unikernel` assembles and runs single-application
//! images. Both register their builtin builders ([`builtins`]). This crate does
//! not evaluate Nix, realise derivations or keep generations: that is
//! b8g-system's pipeline, which calls these adapters.

pub mod linux;
pub mod unikernel;

use b8g_builder::builtin::Builtins;

/// The builtin builders a system build needs: the builder's standard ones and
/// the adapters' (`b8g-initrd`, `b8g-root-image`, `b8g-unikernel`).
pub fn builtins() -> Builtins {
    let mut b = Builtins::standard();
    b.register(Box::new(linux::stage1::InitrdBuilder));
    b.register(Box::new(linux::kernel_tree::KernelTreeBuilder));
    b.register(Box::new(linux::image::RootImageBuilder));
    b.register(Box::new(unikernel::builder::UnikernelBuilder));
    b
}
