//! Thin wrappers over the system calls PID 1 needs: mounts and processes.

pub mod dgram;
pub mod fds;
pub mod mount;
pub(crate) mod proc;
