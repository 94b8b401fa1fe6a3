//! `.swap` units: swapon(2) and swapoff(2), as systemd.swap(5) describes them.

use super::*;
use crate::sys::mount::{swap_active, swap_flags, swapoff, swapon};

impl Manager {
    pub(super) fn swap_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Swap(s) = &u.config else {
            return;
        };
        let flags = swap_flags(s.priority, s.options.as_deref().unwrap_or(""));
        let result = match swapon(&s.what, flags) {
            // Already swapped on (before a daemon-reload, or by hand): that is active.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && swap_active(&s.what) => Ok(()),
            r => r,
        };
        match result {
            Ok(()) => {
                self.set_state(&n, ActiveState::Active, "active");
                self.finish_job(&n, JobResult::Done);
            }
            Err(e) => {
                // The kernel says only EINVAL for a file with holes, on a file system it
                // cannot swap to, or without a swap signature.
                let hint = if e.raw_os_error() == Some(libc::EINVAL) {
                    " (no swap signature from mkswap(8), a file with holes, or a file system that cannot hold swap)"
                } else {
                    ""
                };
                self.logs.push(&n, &format!("swapon {}: {e}{hint}", s.what));
                self.rt.entry(n.clone()).or_default().result = Some(format!("swapon: {e}"));
                self.set_state(&n, ActiveState::Failed, "failed");
                self.finish_job(&n, JobResult::Failed);
            }
        }
    }

    /// swapoff(2) moves every swapped page back into memory, which can take long: it
    /// runs in a child, bounded by the unit's timeout.
    pub(super) fn swap_stop(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Swap(s) = &u.config else {
            return;
        };
        if self.state_of(&n).is_active() && swap_active(&s.what) {
            let limit = s.timeout.unwrap_or(self.cfg.default_timeout_stop);
            let what = s.what.clone();
            if !bounded(limit, || swapoff(&what).is_ok()) {
                self.logs.push(
                    &n,
                    &format!("swapoff {what}: failed or not done in {}s", limit.as_secs()),
                );
            }
        }
        self.set_state(&n, ActiveState::Inactive, "dead");
        self.finish_job(&n, JobResult::Done);
    }
}
