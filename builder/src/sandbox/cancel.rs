//! Cancellation that wakes blocked waiters at once.
//!
//! A [`CancelToken`] is shared by everything belonging to one realisation.
//! Cancelling it sets a flag and makes an eventfd readable, so a sandbox waiting
//! in `poll` for its builder's output notices immediately instead of at the next
//! timeout tick. It does not kill anything itself: whoever waits on it does.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cloneable cancellation flag backed by an eventfd (cheap to poll).
#[derive(Clone, Debug)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cancelled: AtomicBool,
    event: OwnedFd,
}

impl CancelToken {
    /// A fresh, not yet cancelled token.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let event = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(CancelToken {
            inner: Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                event,
            }),
        })
    }

    /// Cancel: every current and future waiter sees it. Idempotent.
    pub fn cancel(&self) {
        if !self.inner.cancelled.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // The counter is never read, so it stays readable ("level") for all pollers.
            // A failed write could only mean counter overflow, which one write cannot cause.
            // SAFETY: writes 8 bytes from a valid u64 to an fd we own.
            unsafe {
                libc::write(
                    self.inner.event.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// The eventfd to include in a `poll` set; readable once cancelled.
    pub fn poll_fd(&self) -> RawFd {
        self.inner.event.as_raw_fd()
    }
}
