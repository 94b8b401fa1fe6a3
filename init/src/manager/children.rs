//! Child processes that exit, PID files, captured output and readiness.

use super::*;

/// Whether a forking service's PID file is still to come: missing, or a regular file
/// not yet holding a number (being written). Anything else is read and judged now.
pub(super) fn pid_file_pending(pf: &Path) -> bool {
    match std::fs::symlink_metadata(pf) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) if m.is_file() => crate::safefs::read_regular(pf, PID_FILE_MAX)
            .is_ok_and(|t| t.trim().parse::<i32>().is_err()),
        Ok(_) => false,
    }
}

/// The most of one output line (journald's LineMax= default is 48K; lines are kept in
/// memory, so less here).
const LINE_MAX: usize = 16 * 1024;
/// The most output read from one unit per turn of the event loop.
const OUTPUT_PER_WAKEUP: usize = 64 * 1024;

impl Manager {
    /// Reaps every exited child, ours or adopted.
    pub(super) fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if let Some((n, role)) = self.pids.remove(&pid) {
                self.child_exited(&n, pid, role, status);
            }
        }
    }

    /// The main pid a forking service's PID file names, under systemd's rule: a file
    /// not owned by root (the service may have written anything) must name one of the
    /// unit's own processes; never PID 1 or a dead process.
    pub(super) fn main_pid_from_file(&self, n: &str, pf: &Path) -> Result<i32, String> {
        use std::os::unix::fs::MetadataExt;
        // The service may have put a FIFO (open or read would block PID 1 for ever), a
        // device or a huge file there: only a small regular file is read.
        let (text, owner) = crate::safefs::read_regular_with_owner(pf, PID_FILE_MAX)
            .map_err(|e| format!("refused PID file: {e}"))?;
        // Both the link and the file read: a symlink planted by the service counts as its.
        let root_owned = owner == 0 && std::fs::symlink_metadata(pf).is_ok_and(|m| m.uid() == 0);
        let p = text.trim().parse::<i32>().unwrap_or(0).max(0);
        let check = notify::MainPidCheck {
            manager_pid: std::process::id() as i32,
            control_pid: None,
            belongs: p > 0 && self.unit_of_pid(p).as_deref() == Some(n),
            alive: p > 0 && notify::alive(p),
        };
        let voucher = || "the PID file's owner".to_string();
        notify::check_main_pid(&text, root_owned, voucher, &check)
            .map_err(|e| format!("refused PID file {}: {e}", pf.display()))
    }

    pub(super) fn adopt_main_pid(&mut self, n: &str, mp: i32) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.main_pid = Some(mp);
        rt.pgids.insert(mp);
        self.pids.insert(mp, (n.to_string(), Role::Main));
    }

    pub(super) fn child_exited(&mut self, n: &str, pid: i32, role: Role, status: i32) {
        if n.ends_with(".swap") {
            self.swap_child_exited(n, status);
            return;
        }
        let Some(s) = self.svc(n) else { return };
        self.read_log(n);
        let desc = describe_status(status);
        let rt = self.rt.entry(n.to_string()).or_default();
        let clean_code = libc::WIFEXITED(status)
            && (libc::WEXITSTATUS(status) == 0
                || s.success_exit_status.contains(&libc::WEXITSTATUS(status)));
        let clean_sig = libc::WIFSIGNALED(status)
            && ([libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE]
                .contains(&libc::WTERMSIG(status))
                || s.success_signals.contains(&libc::WTERMSIG(status)));
        let clean = clean_code || clean_sig;
        let phase = rt.ph();
        let cmd_ignores =
            |list: &Vec<ExecCommand>, idx: usize| list.get(idx).is_some_and(|c| c.ignore_failure);
        match role {
            Role::Control => {
                rt.control_pid = None;
                let list = match phase {
                    Phase::Condition => &s.exec_condition,
                    Phase::StartPre => &s.exec_start_pre,
                    Phase::Start => &s.exec_start,
                    Phase::StartPost => &s.exec_start_post,
                    Phase::Reload => &s.exec_reload,
                    Phase::Stop => &s.exec_stop,
                    Phase::StopPost => &s.exec_stop_post,
                    _ => &s.exec_start,
                };
                let idx = if phase == Phase::Start { 0 } else { rt.idx };
                let ok = clean_code || cmd_ignores(list, idx);
                self.logs.push(n, &format!("control process {pid} {desc}"));
                if phase == Phase::Start && s.service_type == ServiceType::Forking {
                    if !ok {
                        rt.result = Some(result_of(status));
                        self.fail_start(n, "exit-code");
                        return;
                    }
                    // The daemon may write its PID file a little after the parent exits:
                    // as systemd, wait for it (until the start timeout, while the unit
                    // has processes) unless ExecStartPost= may be what writes it.
                    let next = match &s.pid_file {
                        Some(_) if s.exec_start_post.is_empty() => Phase::PidFile,
                        Some(pf) => {
                            if let Ok(mp) = self.main_pid_from_file(n, pf) {
                                self.adopt_main_pid(n, mp);
                            }
                            Phase::StartPost
                        }
                        None => Phase::StartPost,
                    };
                    self.set_phase(n, next);
                    self.advance(n);
                    return;
                }
                if !ok {
                    match phase {
                        // systemd.service(5): exit 1–254 skips the unit (the rest of its
                        // commands too, ExecStopPost= still runs) without failing it;
                        // 255 or a signal fails it.
                        Phase::Condition
                            if libc::WIFEXITED(status)
                                && (1..=254).contains(&libc::WEXITSTATUS(status)) =>
                        {
                            self.logs.push(
                                n,
                                &format!(
                                    "skipped: ExecCondition= exited with status {}",
                                    libc::WEXITSTATUS(status)
                                ),
                            );
                            rt.condition_skipped = true;
                            self.enter_sigterm(n, &s);
                            return;
                        }
                        Phase::Condition | Phase::StartPre | Phase::StartPost => {
                            rt.result = Some(result_of(status));
                            self.fail_start(n, "exit-code");
                            return;
                        }
                        Phase::Reload => {
                            self.logs.push(n, "reload failed");
                        }
                        _ => {}
                    }
                }
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.idx += 1;
                if matches!(phase, Phase::StopSigterm | Phase::StopSigkill) {
                    rt.idx = 0;
                }
                self.advance(n);
            }
            Role::Main => {
                if rt.main_pid != Some(pid) {
                    return;
                }
                rt.main_pid = None;
                rt.main_exit = Some(desc.clone());
                self.logs.push(n, &format!("main process {pid} {desc}"));
                let rt = self.rt.entry(n.to_string()).or_default();
                match phase {
                    Phase::Start if s.service_type == ServiceType::Oneshot => {
                        if clean || cmd_ignores(&s.exec_start, rt.idx) {
                            rt.idx += 1;
                            self.advance(n);
                        } else {
                            rt.result = Some(result_of(status));
                            self.fail_start(n, "exit-code");
                        }
                    }
                    Phase::Condition | Phase::StartPre | Phase::Start | Phase::StartPost => {
                        if !clean && !cmd_ignores(&s.exec_start, 0) {
                            rt.result = Some(result_of(status));
                        } else if phase == Phase::Start
                            && !rt.ready
                            && (s.service_type == ServiceType::Notify
                                || s.service_type == ServiceType::Dbus
                                || s.notification_fd.is_some())
                        {
                            rt.result = Some("protocol".into());
                            self.logs
                                .push(n, "main process exited before signalling readiness");
                        }
                        if rt.result.is_some() {
                            self.fail_start(n, "exit-code");
                        } else if phase == Phase::StartPost {
                            rt.exited_main = true;
                        } else {
                            self.set_phase(n, Phase::StartPost);
                            self.advance(n);
                        }
                    }
                    Phase::Running | Phase::Reload => {
                        if !clean && !cmd_ignores(&s.exec_start, 0) {
                            rt.result = Some(result_of(status));
                        }
                        if s.remain_after_exit && rt.result.is_none() {
                            self.set_state(n, ActiveState::Active, "exited");
                        } else {
                            self.enter_stop(n, false);
                        }
                    }
                    _ => self.advance(n),
                }
            }
        }
    }

    pub(super) fn read_log(&mut self, n: &str) {
        let Some(rt) = self.rt.get_mut(n) else { return };
        let Some(r) = &rt.log_r else { return };
        let mut buf = [0u8; 8192];
        // Bounded per wakeup: a service that makes its pipe large and fills it must
        // not keep PID 1 here (the rest is read on the next turn of the loop).
        let mut budget = OUTPUT_PER_WAKEUP;
        while budget > 0 {
            // SAFETY: reading into a stack buffer from our nonblocking pipe.
            let k = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if k <= 0 {
                break;
            }
            rt.log_buf.extend_from_slice(&buf[..k as usize]);
            budget = budget.saturating_sub(k as usize);
        }
        // Lines by a cursor, one drain at the end; a line longer than LINE_MAX is cut
        // into pieces of that size, as journald does.
        let mut lines = Vec::new();
        let mut start = 0;
        while start < rt.log_buf.len() {
            let rest = &rt.log_buf[start..];
            match rest.iter().position(|b| *b == b'\n') {
                Some(pos) if pos <= LINE_MAX => {
                    lines.push(String::from_utf8_lossy(&rest[..pos]).into_owned());
                    start += pos + 1;
                }
                _ if rest.len() >= LINE_MAX => {
                    lines.push(String::from_utf8_lossy(&rest[..LINE_MAX]).into_owned());
                    start += LINE_MAX;
                }
                _ => break,
            }
        }
        rt.log_buf.drain(..start);
        let to_console = self
            .set
            .units
            .get(n)
            .and_then(|u| u.service())
            .is_some_and(|s| matches!(s.exec.stdout, Some(crate::unit::StdIo::LogAndConsole)));
        for l in lines {
            if let Some(f) = self.log_output_line(n, &l) {
                if to_console {
                    self.console(&f);
                }
            }
        }
    }

    pub(super) fn read_ready_fd(&mut self, n: &str) {
        let Some(rt) = self.rt.get_mut(n) else { return };
        let Some(r) = &rt.ready_fd else { return };
        let mut buf = [0u8; 256];
        // SAFETY: reading into a stack buffer.
        let k = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if k == 0 {
            rt.ready_fd = None;
            return;
        }
        if k > 0 && buf[..k as usize].contains(&b'\n') {
            rt.ready_fd = None;
            self.became_ready(n);
        }
    }

    pub(super) fn became_ready(&mut self, n: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.ready {
            return;
        }
        rt.ready = true;
        self.logs.push(n, "ready");
        if rt.ph() == Phase::Start {
            self.set_phase(n, Phase::StartPost);
            self.advance(n);
        }
    }
}
