//! Shutdown: stopping everything within its bound, then the final kill and reboot.

use super::*;

/// Processes to kill at the end: everything but us and kernel threads when PID 1,
/// otherwise only our descendants.
pub(super) fn remaining_processes(pid1: bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parents: HashMap<i32, i32> = HashMap::new();
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                if let Some((ppid, _, _, st)) = proc_stat(pid) {
                    if st == 'Z' || pid == me {
                        continue;
                    }
                    // Kernel threads are children of kthreadd (pid 2) or pid 0.
                    if ppid == 2 || ppid == 0 {
                        continue;
                    }
                    parents.insert(pid, ppid);
                    v.push(pid);
                }
            }
        }
    }
    if pid1 {
        return v;
    }
    v.into_iter()
        .filter(|p| {
            let mut cur = *p;
            for _ in 0..64 {
                match parents.get(&cur) {
                    Some(pp) if *pp == me => return true,
                    Some(pp) => cur = *pp,
                    None => return false,
                }
            }
            false
        })
        .collect()
}

/// Runs `f` in a forked child and waits at most `limit` for it.
pub(super) fn bounded(limit: Duration, f: impl FnOnce() -> bool) -> bool {
    // A limit past what Instant holds (TimeoutSec=1e19) waits a day.
    let deadline = now()
        .checked_add(limit)
        .unwrap_or_else(|| now() + Duration::from_secs(86_400));
    // SAFETY: single-threaded; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = f();
        // SAFETY: leaving the child without running destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    if pid < 0 {
        return false;
    }
    loop {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
        }
        if now() > deadline {
            kill(pid, libc::SIGKILL);
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The overall bound on stopping units at shutdown. Per-unit timeouts bound each stop;
/// this only guards against bugs, so it must not cut a unit's own stop timeout short
/// (Debian's postgresql@.service asks for `TimeoutStopSec=1h`): three times the longest
/// one (ExecStop=, SIGTERM and ExecStopPost= each get it) plus slack. A unit without a
/// stop timeout counts as 10 min, which makes the bound systemd's own on shutdown,
/// poweroff.target's `JobTimeoutSec=30min`.
pub(super) fn shutdown_bound<'a>(
    default_stop: Duration,
    services: impl Iterator<Item = &'a ServiceConfig>,
) -> Duration {
    let longest = services
        .map(|s| {
            s.timeout_stop
                .resolve(default_stop)
                .unwrap_or(Duration::from_secs(600))
        })
        .fold(default_stop, Duration::max);
    longest
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(5))
}

impl Manager {
    pub fn begin_shutdown(&mut self, kind: ShutdownKind) {
        if self.shutdown.is_some() {
            return;
        }
        self.say(&format!("shutting down ({kind:?})"));
        self.shutdown = Some((kind, now(), self.shutdown_bound()));
        // Cancel queued starts, then stop everything in reverse dependency order.
        let queued: Vec<String> = self
            .engine
            .jobs
            .iter()
            .filter(|(_, j)| j.kind != JobKind::Stop && !j.running)
            .map(|(n, _)| n.clone())
            .collect();
        for q in queued {
            self.engine.finish(&self.set, &q, JobResult::Canceled);
        }
        let active: Vec<String> = self
            .rt
            .iter()
            .filter(|(_, r)| !matches!(r.st(), ActiveState::Inactive | ActiveState::Failed))
            .map(|(n, _)| n.clone())
            .collect();
        for n in active {
            let _ = self.stop_unit(&n);
        }
    }

    pub(super) fn shutdown_bound(&self) -> Duration {
        shutdown_bound(
            self.cfg.default_timeout_stop,
            self.set.units.values().filter_map(Unit::service),
        )
    }

    pub(super) fn check_shutdown_progress(&mut self) {
        let Some((kind, since, cap)) = self.shutdown else {
            return;
        };
        let busy = self.engine.jobs.values().any(|j| j.kind == JobKind::Stop)
            || self.rt.values().any(|r| {
                matches!(
                    r.ph(),
                    Phase::Stop | Phase::StopSigterm | Phase::StopSigkill | Phase::StopPost
                )
            });
        if busy && since.elapsed() < cap {
            return;
        }
        self.final_shutdown(kind);
    }

    pub(super) fn final_shutdown(&mut self, kind: ShutdownKind) -> ! {
        // inittab `shutdown` actions run to completion (at most 10 s) before the kill.
        for c in self.extras.shutdown.clone() {
            if let Some(pid) = self.run_sh(&c) {
                let deadline = now() + Duration::from_secs(10);
                loop {
                    // SAFETY: waiting for our own child without blocking.
                    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                    if r != 0 || now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        self.say("sending SIGTERM to remaining processes");
        let pid1 = is_pid1();
        let targets = |_: ()| -> Vec<i32> { remaining_processes(pid1) };
        for p in targets(()) {
            kill(p, libc::SIGTERM);
            kill(p, libc::SIGCONT);
        }
        let deadline = now().checked_add(self.cfg.kill_grace).unwrap_or_else(now);
        while now() < deadline {
            self.reap();
            if targets(()).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = targets(());
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|p| describe_pid(*p)).collect();
            self.say(&format!(
                "processes blocking shutdown, sending SIGKILL: {}",
                names.join(", ")
            ));
            for p in &left {
                kill(*p, libc::SIGKILL);
            }
            let d2 = now() + Duration::from_secs(2);
            while now() < d2 && !targets(()).is_empty() {
                self.reap();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.reap();
        if self.cfg.boot {
            // Bound sockets and open log files would keep /run and /var busy.
            self.control = None;
            self.notify = None;
            self.syslog = None;
            self.syslog_out = None;
            for rt in self.rt.values_mut() {
                rt.listen_fds.clear();
                rt.log_r = None;
                rt.log_w = None;
            }
            self.logs.close_files();
            unmount_all(self);
        }
        self.say("reached final stage, syncing");
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
        self.finished = true;
        let cmd = match kind {
            ShutdownKind::Poweroff => libc::LINUX_REBOOT_CMD_POWER_OFF,
            ShutdownKind::Reboot => libc::LINUX_REBOOT_CMD_RESTART,
            ShutdownKind::Halt => libc::LINUX_REBOOT_CMD_HALT,
        };
        if pid1 {
            // SAFETY: reboot(2); in a PID namespace it ends the namespace.
            unsafe { libc::reboot(cmd) };
            self.say(&format!(
                "reboot(2) failed: {}",
                std::io::Error::last_os_error()
            ));
            crate::boot::emergency_shell(&self.cfg);
        }
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Timeout;

    #[test]
    fn shutdown_waits_for_the_longest_stop_timeout() {
        // Regression: shutdown SIGKILLed everything after 3 × 10 s + 5 s, whatever a
        // unit's TimeoutStopSec= said.
        let default = Config::system_defaults("").default_timeout_stop;
        assert_eq!(default, Duration::from_secs(90));
        let svc = |t: Timeout| ServiceConfig {
            timeout_stop: t,
            ..ServiceConfig::default()
        };
        let hour = Duration::from_secs(3600);
        let postgres = [svc(Timeout::Default), svc(Timeout::After(hour))];
        assert!(shutdown_bound(default, postgres.iter()) > hour);
        let plain = [svc(Timeout::Default)];
        assert_eq!(
            shutdown_bound(default, plain.iter()),
            Duration::from_secs(275)
        );
        let never = [svc(Timeout::Never)];
        assert_eq!(
            shutdown_bound(default, never.iter()),
            Duration::from_secs(30 * 60 + 5)
        );
    }
}
