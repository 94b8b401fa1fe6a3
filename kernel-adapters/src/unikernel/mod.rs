//! The unikernel adapter: one application booted as the only program of a VM.
//!
//! The recipe (`recipes/unikernel`) describes the image; the `b8g-unikernel`
//! builtin builder ([`builder`]) assembles it: a kernel, one reproducible
//! initramfs holding `b8g-unikernel-shim` as `/init`, the application's store
//! closure ([`closure`]), the kernel modules it needs and the shim's
//! configuration, and a manifest of how to run it ([`manifest`]). [`run`] boots
//! it under qemu and reads back the application's exit status. Evaluating and
//! realising an image file such as `images/unikernel-hello.nix` is b8g-system's.

pub mod builder;
pub mod closure;
pub mod manifest;
pub mod run;

// The escaping of the unikernel's line formats (the shim's configuration,
// the builder's layout, the manifest) is the shim's contract: one copy, in b8g-layout.
pub use b8g_layout::unikernel::{escape, unescape, EscapeError};
