//! Containment of builtin builders: every file a builtin reads or writes is
//! resolved by the kernel inside a directory fd, never by walking host paths.
//!
//! Builtins run in-process as root with no sandbox, and any derivation may name
//! them, so their inputs and tree descriptions are hostile. Two handles give
//! them file access:
//! - [`StoreInputs`] opens a logical store path for reading with
//!   `openat2(RESOLVE_IN_ROOT)` from the physical directory that holds the
//!   logical store directory (so absolute in-store symlinks resolve as they do
//!   in the sandbox and `..` cannot climb above that root), then checks that
//!   what was opened lies in a store path of the derivation's input closure.
//!   The root alone is not enough: for a store at `/b8g/store` it is `/`.
//! - [`OutputTree`] creates files, directories and symlinks beneath one output
//!   with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, and creates the last
//!   component exclusively (`O_EXCL`, `mkdirat`, `symlinkat`), so no symlink —
//!   not even one the builtin made itself a moment before — is ever followed.
//!
//! This module does not parse any builtin's input format; it only opens files.
//!
//! `inputs.rs` holds the read side, `output.rs` the write side.

mod inputs;
mod output;
#[cfg(test)]
mod tests;

pub use inputs::{InputFile, StoreInputs};
pub use output::{checked_relative, OutputTree};

use super::BuiltinError;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> BuiltinError {
    let path = path.into();
    move |source| BuiltinError::Io { op, path, source }
}

pub(crate) fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The physical path an fd refers to, as the kernel reports it.
pub(crate) fn fd_path(fd: &OwnedFd, what: &Path) -> Result<PathBuf, BuiltinError> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::read_link(&link).map_err(io_err("find where the kernel resolved", what))
}

pub(super) use b8g_store::openat::openat2_retrying;
