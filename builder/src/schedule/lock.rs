//! Per-output file locks, so that two processes never build the same path.
//!
//! The protocol is Nix's: open (creating) `<path>.lock`, take an exclusive
//! `flock`, then check that the file was not unlinked meanwhile by a previous
//! holder (a holder that finished deletes it before unlocking, so waiters must
//! retry on a fresh file). Holders check whether the path became valid after
//! acquiring the lock, so the loser of a race finds the work done.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sandbox::CancelToken;

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Opening or locking the lock file failed.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Cancelled while waiting for another process to release the lock.
    #[error("cancelled while waiting for lock {}", path.display())]
    Cancelled {
        /// The lock file.
        path: PathBuf,
    },
}

/// An exclusive lock on one lock file, released on drop.
#[derive(Debug)]
pub struct PathLock {
    path: PathBuf,
    /// Held only for its `flock`, which closing it releases.
    _file: File,
    delete_on_release: bool,
}

impl PathLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Delete the lock file when releasing it (do this once the locked path is
    /// valid, so lock files do not accumulate).
    pub fn delete_on_release(&mut self) {
        self.delete_on_release = true;
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        if self.delete_on_release {
            // Unlink before the lock is released (when `_file` closes), so a
            // waiter that then gets the lock sees nlink == 0 and retries.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How often a waiter retries a held lock (and checks for cancellation).
const POLL: Duration = Duration::from_millis(20);

/// Locks `path`, waiting while another holder has it. `on_wait` is called once
/// if the lock is busy (to tell the user what we wait for).
pub fn lock_path(
    path: &Path,
    cancel: &CancelToken,
    on_wait: &mut dyn FnMut(&Path),
) -> Result<PathLock, LockError> {
    let err = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    let mut told = false;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(err)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {}
                Some(libc::EINTR) => continue,
                _ => return Err(err(e)),
            }
            if !told {
                on_wait(path);
                told = true;
            }
            if cancel.is_cancelled() {
                return Err(LockError::Cancelled {
                    path: path.to_owned(),
                });
            }
            std::thread::sleep(POLL);
        }
        // A previous holder may have deleted the file after we opened it.
        if file.metadata().map_err(err)?.nlink() == 0 {
            continue;
        }
        return Ok(PathLock {
            path: path.to_owned(),
            _file: file,
            delete_on_release: false,
        });
    }
}

/// Locks several paths in sorted order (a fixed order rules out deadlocks
/// between processes locking overlapping sets).
pub fn lock_paths(
    paths: &[PathBuf],
    cancel: &CancelToken,
    on_wait: &mut dyn FnMut(&Path),
) -> Result<Vec<PathLock>, LockError> {
    let mut sorted: Vec<&PathBuf> = paths.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted
        .into_iter()
        .map(|p| lock_path(p, cancel, on_wait))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_locker_waits_then_sees_deleted_file_and_retries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.lock");
        let cancel = CancelToken::new().expect("eventfd");
        let mut first = lock_path(&p, &cancel, &mut |_| {}).expect("first lock");
        first.delete_on_release();
        let waited = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                lock_path(&p, &cancel, &mut |_| {
                    waited.store(true, std::sync::atomic::Ordering::SeqCst)
                })
            });
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
            let second = h.join().expect("thread").expect("second lock");
            assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
            // The retry created a fresh lock file.
            assert!(second.path().exists());
        });
    }

    #[test]
    fn cancelled_waiter_gives_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("y.lock");
        let cancel = CancelToken::new().expect("eventfd");
        let _held = lock_path(&p, &cancel, &mut |_| {}).expect("lock");
        let r = lock_path(&p, &cancel, &mut |_| cancel.cancel());
        assert!(matches!(r, Err(LockError::Cancelled { .. })), "{r:?}");
    }
}
