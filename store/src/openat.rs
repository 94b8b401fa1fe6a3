//! `openat2` for lookups confined to a tree (`RESOLVE_BENEATH`,
//! `RESOLVE_IN_ROOT`), which the kernel may refuse with `EAGAIN` when a
//! rename or mount raced with them.

use std::os::fd::OwnedFd;

/// `openat2`, tried again while it fails with `EAGAIN`: with `RESOLVE_IN_ROOT`
/// or `RESOLVE_BENEATH` the kernel gives up when a rename or mount anywhere
/// raced with the lookup (openat2(2) says to retry); builds that mount
/// sandboxes beside us make that common.
pub fn openat2_retrying<Fd: std::os::fd::AsFd, P: rustix::path::Arg + Copy>(
    dir: Fd,
    path: P,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
    resolve: rustix::fs::ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(&dir, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < 100 => {
                tries += 1;
                std::thread::yield_now();
            }
            r => return r,
        }
    }
}
