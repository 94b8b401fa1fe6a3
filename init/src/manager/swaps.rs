//! `.swap` units: swapon(2) and swapoff(2), as systemd.swap(5) describes them. Both run
//! in a child process that PID 1 reaps like any other, bounded by the unit's timeout:
//! swapon with discard goes over the whole device, swapoff moves every swapped page back
//! into memory, and either may hang on a network block device.

use super::*;
use crate::sys::mount::{swap_active, swap_flags, swapoff, swapon};

/// What a swap unit's child is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    On,
    Off,
}

impl Manager {
    pub(super) fn swap_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Swap(s) = &u.config else {
            return;
        };
        let flags = swap_flags(s.priority, s.options.as_deref().unwrap_or(""));
        let what = s.what.clone();
        let limit = s.timeout.unwrap_or(self.cfg.default_timeout_start);
        self.swap_child(&n, Op::On, limit, move || match swapon(&what, flags) {
            Ok(()) => 0,
            // Already swapped on (before a daemon-reload, or by hand): that is active.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && swap_active(&what) => 0,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        });
    }

    pub(super) fn swap_stop(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Swap(s) = &u.config else {
            return;
        };
        if !self.state_of(&n).is_active() || !swap_active(&s.what) {
            self.set_state(&n, ActiveState::Inactive, "dead");
            self.finish_job(&n, JobResult::Done);
            return;
        }
        let what = s.what.clone();
        let limit = s.timeout.unwrap_or(self.cfg.default_timeout_stop);
        self.swap_child(&n, Op::Off, limit, move || match swapoff(&what) {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        });
    }

    /// Runs `f` in a child whose exit status is 0 or the errno it met.
    fn swap_child(&mut self, n: &str, op: Op, limit: Duration, f: impl FnOnce() -> i32) {
        // SAFETY: single-threaded PID 1; the child makes one system call and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = f();
            // SAFETY: leaving the child without running destructors.
            unsafe { libc::_exit(code.clamp(0, 255)) };
        }
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            self.logs.push(n, &format!("cannot fork: {e}"));
            self.swap_done(n, op, Some(e.to_string()));
            return;
        }
        self.pids.insert(pid, (n.to_string(), Role::Control));
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.control_pid = Some(pid);
        rt.deadline = now().checked_add(limit);
        match op {
            Op::On => self.set_state(n, ActiveState::Activating, "activating"),
            Op::Off => self.set_state(n, ActiveState::Deactivating, "deactivating"),
        }
    }

    /// The child of a swap unit ended.
    pub(super) fn swap_child_exited(&mut self, n: &str, status: i32) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.control_pid = None;
        rt.deadline = None;
        let op = if rt.st() == ActiveState::Deactivating {
            Op::Off
        } else {
            Op::On
        };
        let err = if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            None
        } else if libc::WIFEXITED(status) {
            Some(std::io::Error::from_raw_os_error(libc::WEXITSTATUS(status)).to_string())
        } else {
            Some("timed out".to_string())
        };
        self.swap_done(n, op, err);
    }

    fn swap_done(&mut self, n: &str, op: Op, err: Option<String>) {
        let what = match self.set.units.get(n).map(|u| &u.config) {
            Some(KindConfig::Swap(s)) => s.what.clone(),
            _ => n.to_string(),
        };
        match (op, err) {
            (Op::On, None) => {
                self.set_state(n, ActiveState::Active, "active");
                self.finish_job(n, JobResult::Done);
            }
            (Op::On, Some(e)) => {
                // The kernel says only EINVAL for a file with holes, on a file system it
                // cannot swap to, or without a swap signature.
                let hint = if e.contains("Invalid argument") {
                    " (no swap signature from mkswap(8), a file with holes, or a file system that cannot hold swap)"
                } else {
                    ""
                };
                self.logs.push(n, &format!("swapon {what}: {e}{hint}"));
                self.rt.entry(n.to_string()).or_default().result = Some(format!("swapon: {e}"));
                self.set_state(n, ActiveState::Failed, "failed");
                self.finish_job(n, JobResult::Failed);
            }
            (Op::Off, err) => {
                if let Some(e) = err {
                    self.logs.push(n, &format!("swapoff {what}: {e}"));
                }
                self.set_state(n, ActiveState::Inactive, "dead");
                self.finish_job(n, JobResult::Done);
            }
        }
    }

    /// Swap children past their unit's timeout are killed (their exit ends the job).
    pub(super) fn swap_deadlines(&mut self, t: Instant) {
        for (n, rt) in &mut self.rt {
            if n.ends_with(".swap") && rt.deadline.is_some_and(|d| d <= t) {
                rt.deadline = None;
                if let Some(pid) = rt.control_pid {
                    kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
