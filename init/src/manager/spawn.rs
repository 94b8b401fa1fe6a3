//! Starting a unit's processes.

use super::*;

pub(super) trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}
impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NOCTTY)
    }
}

impl Manager {
    pub(super) fn spawn(
        &mut self,
        n: &str,
        s: &ServiceConfig,
        cmd: &ExecCommand,
        role: Role,
    ) -> bool {
        let Some(u) = self.set.units.get(n).cloned() else {
            return false;
        };
        // One log pipe per unit, reused by all its processes.
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.log_w.is_none() {
            let mut p = [0; 2];
            // SAFETY: pipe2 into a valid array.
            if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
                // SAFETY: fresh fds from pipe2.
                unsafe {
                    rt.log_r = Some(OwnedFd::from_raw_fd(p[0]));
                    rt.log_w = Some(OwnedFd::from_raw_fd(p[1]));
                }
            }
        }
        let log_fd = rt.log_w.as_ref().map(|f| f.as_raw_fd()).unwrap_or(2);
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("INVOCATION_ID".into(), rt.invocation.clone()),
            ("B8G_INVOCATION".into(), rt.invocation.clone()),
            ("B8G_UNIT".into(), n.to_string()),
            (
                "RUNTIME_DIRECTORY".into(),
                s.exec
                    .runtime_directories
                    .iter()
                    .map(|d| self.cfg.run_dir.join(d).display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            (
                "STATE_DIRECTORY".into(),
                s.exec
                    .state_directories
                    .iter()
                    .map(|d| self.cfg.state_dir.join(d).display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
        ];
        env.retain(|(_, v)| !v.is_empty());
        if s.notify_access() != NotifyAccess::None {
            env.push((
                "NOTIFY_SOCKET".into(),
                self.cfg.notify_socket().display().to_string(),
            ));
        }
        if let Some(w) = s.watchdog {
            env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
        }
        if let Some(p) = rt.main_pid {
            env.push(("MAINPID".into(), p.to_string()));
        }
        env.push((
            "B8G_CONTROL_SOCKET".into(),
            self.cfg.control_socket.display().to_string(),
        ));
        env.extend(s.exec.environment.iter().cloned());
        for (f, optional) in &s.exec.environment_files {
            match exec::read_env_file(f) {
                Ok(v) => env.extend(v),
                Err(e) if !optional => {
                    self.logs.push(
                        n,
                        &format!(
                            "{}: cannot read EnvironmentFile {}: {e}",
                            cmd.location,
                            f.display()
                        ),
                    );
                    self.rt.entry(n.to_string()).or_default().result = Some("resources".into());
                    return false;
                }
                Err(_) => {}
            }
        }
        // Socket activation: fds of the sockets that trigger this service.
        let mut pass = Vec::new();
        let mut names = Vec::new();
        if role == Role::Main || s.service_type == ServiceType::Forking {
            let rt = self.rt.get(n);
            if let Some(c) = rt.and_then(|r| r.conn_fd.as_ref()) {
                pass.push(c.as_raw_fd());
                names.push("connection".to_string());
            } else {
                for sock in self.sockets_for(&u) {
                    if let (Some(srt), Some(su)) = (self.rt.get(&sock), self.set.units.get(&sock)) {
                        let fname = match &su.config {
                            KindConfig::Socket(c) => c
                                .fd_name
                                .clone()
                                .unwrap_or_else(|| sock.trim_end_matches(".socket").to_string()),
                            _ => sock.clone(),
                        };
                        for fd in &srt.listen_fds {
                            pass.push(fd.as_raw_fd());
                            names.push(fname.clone());
                        }
                    }
                }
            }
        }
        if !names.is_empty() {
            env.push(("LISTEN_FDNAMES".into(), names.join(":")));
        }
        let mut extra = Vec::new();
        let mut ready_r = None;
        if let (Some(fd), Role::Main) = (s.notification_fd, role) {
            let mut p = [0; 2];
            // SAFETY: pipe2 into a valid array.
            if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
                // SAFETY: fresh fds.
                let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
                extra.push((fd, w.as_raw_fd()));
                ready_r = Some((r, w));
            }
        }
        let console = self.cfg.console.clone();
        let cgroup_procs = self.prepare_unit_cgroup(n).and_then(|cg| {
            std::ffi::CString::new(cg.join("cgroup.procs").display().to_string()).ok()
        });
        let conn = self
            .rt
            .get(n)
            .and_then(|r| r.conn_fd.as_ref())
            .map(|c| c.as_raw_fd());
        let spec = SpawnSpec {
            cmd,
            ctx: &s.exec,
            env,
            pass_fds: pass,
            extra_fds: extra,
            log_fd,
            console: console.as_deref(),
            etc_dir: &self.cfg.etc_dir,
            socket_stdio: conn.filter(|_| matches!(s.exec.stdin, Some(crate::unit::StdIo::Socket))),
            cgroup_procs,
            own_dirs: self.own_dirs(&s.exec),
            run_dir: &self.cfg.run_dir,
        };
        match exec::spawn(&spec, cmd.privileged) {
            Ok(pid) => {
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.pgids.insert(pid);
                match role {
                    Role::Main => rt.main_pid = Some(pid),
                    Role::Control => rt.control_pid = Some(pid),
                }
                if let Some((r, _w)) = ready_r {
                    rt.ready_fd = Some(r);
                }
                self.pids.insert(pid, (n.to_string(), role));
                self.logs
                    .push(n, &format!("started {} (pid {pid})", cmd.argv.join(" ")));
                true
            }
            Err(e) => {
                self.logs
                    .push(n, &format!("{}: failed to execute: {e}", cmd.location));
                self.say(&format!("{n}: {}: failed to execute: {e}", cmd.location));
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.result = Some("exec".into());
                false
            }
        }
    }

    /// Spawns one command of a start sequence. A `-` command that cannot be executed
    /// (a missing program) is a failure systemd ignores, as it ignores the exit status
    /// 203/EXEC such a child ends with: the sequence goes on with the next command.
    pub(super) fn spawn_step(
        &mut self,
        n: &str,
        s: &ServiceConfig,
        cmd: &ExecCommand,
        role: Role,
    ) -> Step {
        if self.spawn(n, s, cmd, role) {
            return Step::Started;
        }
        if !cmd.ignore_failure {
            return Step::Failed;
        }
        self.logs.push(
            n,
            &format!("{}: failure ignored (`-` prefix)", cmd.location),
        );
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.result = None;
        rt.idx += 1;
        Step::Skipped
    }

    pub(super) fn run_sh(&mut self, cmd: &str) -> Option<i32> {
        let c = ExecCommand {
            argv: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            ignore_failure: true,
            custom_argv0: false,
            privileged: true,
            expand: false,
            location: "inittab".into(),
        };
        let ctx = crate::unit::ExecContext::default();
        let spec = SpawnSpec {
            cmd: &c,
            ctx: &ctx,
            env: vec![],
            pass_fds: vec![],
            extra_fds: vec![],
            log_fd: 2,
            console: None,
            etc_dir: &self.cfg.etc_dir,
            socket_stdio: None,
            cgroup_procs: None,
            own_dirs: Vec::new(),
            run_dir: &self.cfg.run_dir,
        };
        match exec::spawn(&spec, true) {
            Ok(pid) => Some(pid),
            Err(e) => {
                self.say(&format!("cannot run {cmd:?}: {e}"));
                None
            }
        }
    }

    /// The unit's own directories (RuntimeDirectory=, StateDirectory=, LogsDirectory=,
    /// CacheDirectory=), which its sandbox leaves writable.
    pub(super) fn own_dirs(&self, x: &crate::unit::ExecContext) -> Vec<PathBuf> {
        let mut v = Vec::new();
        for (names, base) in [
            (&x.runtime_directories, &self.cfg.run_dir),
            (&x.state_directories, &self.cfg.state_dir),
            (&x.logs_directories, &self.cfg.logs_dir),
            (&x.cache_directories, &self.cfg.cache_dir),
        ] {
            v.extend(names.iter().map(|d| base.join(d)));
        }
        v
    }
}

/// What [`Manager::spawn_step`] made of a command.
pub(super) enum Step {
    Started,
    /// An ignorable failure: go on with the next command.
    Skipped,
    Failed,
}
