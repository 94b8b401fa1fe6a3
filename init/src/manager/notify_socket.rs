//! The sd_notify socket: who sent a datagram, and what it may change.

use super::*;

impl Manager {
    pub(super) fn open_notify(&mut self) {
        let p = self.cfg.notify_socket();
        // World-writable like systemd's: any process may send, but a datagram counts
        // only for the unit its sender belongs to by kernel credentials, under that
        // unit's NotifyAccess= (see notify.rs).
        match crate::sys::dgram::bind_world_writable(&p) {
            Ok(s) => self.notify = Some(s),
            Err(e) => self.say(&format!("cannot bind notify socket {}: {e}", p.display())),
        }
    }

    pub(super) fn handle_notify(&mut self) {
        let Some(sock) = &self.notify else { return };
        let fd = sock.as_raw_fd();
        let mut data = [0u8; 4096];
        while let Some(d) = crate::sys::dgram::receive(fd, &mut data) {
            let text = String::from_utf8_lossy(&data[..d.len]).into_owned();
            // Only the kernel's credentials name the sender; a datagram without them
            // (or from a pid outside our namespace, reported as 0) is nobody's.
            let sender = d.sender.map(|c| Sender {
                pid: c.pid,
                uid: c.uid,
            });
            if let Some(sender) = sender.filter(|s| s.pid > 0) {
                if let Some(unit) = self.unit_of_pid(sender.pid) {
                    self.apply_notify(&unit, &text, sender);
                }
            }
            // Closing the fds ends BARRIER=1 (the sender knows we processed its message);
            // a sender's FUSE file or lingering socket must not make PID 1 wait.
            crate::sys::fds::release(d.fds);
        }
    }

    /// The unit a process belongs to, by what the kernel says: its cgroup when units
    /// have cgroups, else a tracked main or control process among its ancestors (walked
    /// through `/proc/<pid>/stat`, bounded), else its process group or session. Never by
    /// the process's environment: any process can set `B8G_INVOCATION=`.
    pub(super) fn unit_of_pid(&self, pid: i32) -> Option<String> {
        let me = std::process::id() as i32;
        if pid <= 0 || pid == me {
            return None;
        }
        if let Some((n, _)) = self.pids.get(&pid) {
            return Some(n.clone());
        }
        if self.cgroup_root.is_some() {
            if let Some(dir) = notify::cgroup_of(pid)
                .and_then(|cg| notify::unit_dir_in(&cg, "/b8g").map(str::to_string))
            {
                return self.rt.keys().find(|n| n.replace('/', "_") == dir).cloned();
            }
        }
        let mut owner = None;
        notify::find_ancestor(pid, me, |p| match self.pids.get(&p) {
            Some((n, _)) => {
                owner = Some(n.clone());
                true
            }
            None => false,
        });
        if owner.is_some() {
            return owner;
        }
        let (_, _, pgid, sid) = notify::stat(pid)?;
        self.rt
            .iter()
            .find(|(_, rt)| {
                // Groups of a unit that is down are history: their numbers may be reused.
                !matches!(rt.st(), ActiveState::Inactive | ActiveState::Failed)
                    && (rt.pgids.contains(&pgid) || rt.pgids.contains(&sid))
            })
            .map(|(n, _)| n.clone())
    }

    /// Notes a refused notification, at most a few times per start: a service that
    /// floods the socket must not fill the log.
    pub(super) fn notify_refused(&mut self, n: &str, why: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.notify_refused += 1;
        match rt.notify_refused {
            1..=8 => {
                self.logs.push(n, why);
            }
            9 => {
                self.logs
                    .push(n, "further refused notifications are not logged");
            }
            _ => {}
        }
    }

    pub(super) fn apply_notify(&mut self, n: &str, text: &str, sender: Sender) {
        let Some(s) = self.svc(n) else { return };
        let (role, control_pid) = {
            let rt = self.rt.entry(n.to_string()).or_default();
            let role = if rt.main_pid == Some(sender.pid) {
                SenderRole::Main
            } else if rt.control_pid == Some(sender.pid) {
                SenderRole::Control
            } else {
                SenderRole::Other
            };
            (role, rt.control_pid)
        };
        let access = s.notify_access();
        if !notify::authorized(access, role) {
            self.notify_refused(
                n,
                &format!(
                    "refused notification from pid {} ({role:?} process, NotifyAccess={access:?})",
                    sender.pid
                ),
            );
            return;
        }
        for line in text.lines() {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            match k {
                "READY" if v == "1" => {
                    self.became_ready(n);
                }
                "STATUS" => {
                    let v: String = v.chars().take(256).collect();
                    self.logs.push(n, &format!("status: {v}"));
                    self.rt.entry(n.to_string()).or_default().status_text = Some(v);
                }
                "MAINPID" => {
                    // Malformed values fail in check_main_pid; 0 matches no process.
                    let p = v.trim().parse::<i32>().unwrap_or(0).max(0);
                    let check = notify::MainPidCheck {
                        manager_pid: std::process::id() as i32,
                        control_pid,
                        belongs: p > 0 && self.unit_of_pid(p).as_deref() == Some(n),
                        alive: p > 0 && notify::alive(p),
                    };
                    let voucher = || format!("the sender (uid {})", sender.uid);
                    match notify::check_main_pid(v, sender.uid == 0, voucher, &check) {
                        Ok(p) => {
                            let rt = self.rt.entry(n.to_string()).or_default();
                            if let Some(old) = rt.main_pid {
                                self.pids.remove(&old);
                            }
                            rt.main_pid = Some(p);
                            self.pids.insert(p, (n.to_string(), Role::Main));
                        }
                        Err(e) => self.notify_refused(n, &format!("refused MAINPID={v}: {e}")),
                    }
                }
                "STOPPING" if v == "1" => {
                    self.logs.push(n, "service reports it is stopping");
                }
                "WATCHDOG" if v == "1" => {
                    if let Some(w) = s.watchdog {
                        self.rt.entry(n.to_string()).or_default().watchdog_at =
                            now().checked_add(w);
                    }
                }
                _ => {}
            }
        }
    }

    // ---------------------------------------------------------------- time
}
