//! Thin wrappers over the system calls PID 1 needs: mounts and processes.

pub mod mount;
pub(crate) mod proc;
