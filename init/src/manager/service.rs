//! The service state machine: phases, stop escalation, restart, the end of a run.

use super::*;

impl Manager {
    pub(super) fn service_start(&mut self, u: &Unit, s: &ServiceConfig) {
        let n = u.name.clone();
        // Start rate limit: counts every attempt, automatic restarts included.
        let interval = u.start_limit_interval;
        let burst = u.start_limit_burst as usize;
        let rt = self.rt.entry(n.clone()).or_default();
        let t = now();
        while rt
            .starts
            .front()
            .is_some_and(|s| t.duration_since(*s) > interval)
        {
            rt.starts.pop_front();
        }
        if !interval.is_zero() && burst > 0 && rt.starts.len() >= burst {
            rt.result = Some(format!(
                "start-limit-hit: {} starts within {:?}; refusing to start (b8gctl reset-failed {n} clears this)",
                rt.starts.len(),
                interval
            ));
            rt.phase = Some(Phase::Idle);
            rt.restart_at = None;
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            self.degraded = true;
            return;
        }
        rt.starts.push_back(t);
        rt.last_start = Some(t);
        rt.result = None;
        rt.main_exit = None;
        rt.explicit_stop = false;
        rt.restart_at = None;
        rt.status_text = None;
        rt.ready = false;
        rt.exited_main = false;
        rt.notify_refused = 0;
        rt.pgids.clear();
        self.counter += 1;
        rt.invocation = format!(
            "{:x}{:08x}",
            self.start.elapsed().as_nanos() as u64,
            self.counter
        );
        // Directories.
        let x = &s.exec;
        let uid_gid = exec::context_user(&self.cfg.etc_dir, x)
            .and_then(Result::ok)
            .map(|u| (u.uid, u.gid));
        let dirs = [
            (
                &x.runtime_directories,
                &self.cfg.run_dir,
                x.runtime_directory_mode,
            ),
            (
                &x.state_directories,
                &self.cfg.state_dir,
                x.state_directory_mode,
            ),
            (
                &x.logs_directories,
                &self.cfg.logs_dir,
                x.logs_directory_mode,
            ),
            (
                &x.cache_directories,
                &self.cfg.cache_dir,
                x.cache_directory_mode,
            ),
        ];
        // The service owns what it asked for here and may have planted a symlink
        // beneath it since its last run: never follow one (systemd refuses a
        // non-directory in the way too).
        let setup = dirs.iter().try_for_each(|(list, root, mode)| {
            list.iter().try_for_each(|d| {
                crate::safefs::prepare_dir(root, d, mode.unwrap_or(0o755), uid_gid)
            })
        });
        if let Err(e) = setup {
            self.logs
                .push(&n, &format!("cannot set up exec directory: {e}"));
            self.rt.entry(n.clone()).or_default().result = Some("resources".into());
            self.fail_start(&n, "resources");
            return;
        }
        let (phase, sub) = if s.exec_condition.is_empty() {
            (Phase::StartPre, "start-pre")
        } else {
            (Phase::Condition, "condition")
        };
        self.set_state(&n, ActiveState::Activating, sub);
        let rt = self.rt.entry(n.clone()).or_default();
        rt.phase = Some(phase);
        rt.idx = 0;
        rt.deadline = s
            .start_timeout(self.cfg.default_timeout_start)
            .and_then(|d| now().checked_add(d));
        self.advance(&n);
    }

    pub(super) fn svc(&self, n: &str) -> Option<ServiceConfig> {
        self.set.units.get(n).and_then(|u| u.service().cloned())
    }

    /// Moves a service's state machine forward after a process finished or a phase began.
    pub(super) fn advance(&mut self, n: &str) {
        let Some(s) = self.svc(n) else { return };
        loop {
            let (phase, idx) = {
                let rt = self.rt.entry(n.to_string()).or_default();
                (rt.ph(), rt.idx)
            };
            match phase {
                Phase::Condition => {
                    if idx < s.exec_condition.len() {
                        match self.spawn_step(n, &s, &s.exec_condition[idx], Role::Control) {
                            Step::Started => return,
                            Step::Skipped => continue,
                            Step::Failed => {
                                self.fail_start(n, "exec");
                                return;
                            }
                        }
                    }
                    self.set_phase(n, Phase::StartPre);
                    self.set_state(n, ActiveState::Activating, "start-pre");
                }
                Phase::StartPre => {
                    if idx < s.exec_start_pre.len() {
                        match self.spawn_step(n, &s, &s.exec_start_pre[idx], Role::Control) {
                            Step::Started => return,
                            Step::Skipped => continue,
                            Step::Failed => {
                                self.fail_start(n, "exec");
                                return;
                            }
                        }
                    }
                    self.set_phase(n, Phase::Start);
                    self.set_state(n, ActiveState::Activating, "start");
                }
                Phase::Start => {
                    let st = s.service_type;
                    if st == ServiceType::Oneshot {
                        if idx < s.exec_start.len() {
                            match self.spawn_step(n, &s, &s.exec_start[idx], Role::Main) {
                                Step::Started => return,
                                Step::Skipped => continue,
                                Step::Failed => {
                                    self.fail_start(n, "exec");
                                    return;
                                }
                            }
                        }
                        self.set_phase(n, Phase::StartPost);
                        continue;
                    }
                    if idx == 0 {
                        let role = if st == ServiceType::Forking {
                            Role::Control
                        } else {
                            Role::Main
                        };
                        let Some(cmd) = s.exec_start.first() else {
                            self.set_phase(n, Phase::StartPost);
                            continue;
                        };
                        if !self.spawn(n, &s, cmd, role) {
                            self.fail_start(n, "exec");
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx = 1;
                        if st == ServiceType::Dbus {
                            if let Some(name) = &s.bus_name {
                                self.bus_watch(name);
                            }
                        }
                        let waits = st == ServiceType::Forking
                            || st == ServiceType::Notify
                            || st == ServiceType::Dbus
                            || s.notification_fd.is_some();
                        if waits {
                            return;
                        }
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    let waits_ready = s.service_type == ServiceType::Notify
                        || s.service_type == ServiceType::Dbus
                        || s.notification_fd.is_some();
                    if waits_ready && !rt.ready {
                        return;
                    }
                    self.set_phase(n, Phase::StartPost);
                }
                Phase::PidFile => {
                    let Some(pf) = &s.pid_file else {
                        self.set_phase(n, Phase::StartPost);
                        continue;
                    };
                    let pending = pid_file_pending(pf);
                    if pending && self.unit_alive(n) {
                        if idx == 0 {
                            self.logs
                                .push(n, &format!("waiting for PID file {}", pf.display()));
                            self.rt.entry(n.to_string()).or_default().idx = 1;
                        }
                        return;
                    }
                    match self.main_pid_from_file(n, pf) {
                        Ok(mp) => {
                            self.adopt_main_pid(n, mp);
                            self.set_phase(n, Phase::StartPost);
                        }
                        Err(why) => {
                            let why = if pending {
                                format!("{why}; no process of the unit is left to write it")
                            } else {
                                why
                            };
                            self.logs.push(n, &why);
                            self.rt.entry(n.to_string()).or_default().result =
                                Some("protocol".into());
                            self.fail_start(n, "protocol");
                            return;
                        }
                    }
                }
                Phase::StartPost => {
                    if idx < s.exec_start_post.len() {
                        match self.spawn_step(n, &s, &s.exec_start_post[idx], Role::Control) {
                            Step::Started => return,
                            Step::Skipped => continue,
                            Step::Failed => {
                                self.fail_start(n, "exec");
                                return;
                            }
                        }
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    rt.phase = Some(Phase::Running);
                    rt.deadline = None;
                    rt.restarts = if rt.restart_at.is_none() {
                        rt.restarts
                    } else {
                        0
                    };
                    rt.watchdog_at = s.watchdog.and_then(|w| now().checked_add(w));
                    let main_alive = rt.main_pid.is_some();
                    let sub = if main_alive { "running" } else { "exited" };
                    self.set_state(n, ActiveState::Active, sub);
                    self.finish_job(n, JobResult::Done);
                    // Nothing left to supervise: a finished oneshot, or a service whose main
                    // process already exited. A forking service without PIDFile= has no
                    // known main process and stays active, as if RemainAfterExit=yes.
                    if !main_alive
                        && !s.remain_after_exit
                        && (s.service_type != ServiceType::Forking || s.pid_file.is_some())
                    {
                        self.enter_stop(n, false);
                    }
                    return;
                }
                Phase::Reload => {
                    if idx < s.exec_reload.len()
                        && self.spawn(n, &s, &s.exec_reload[idx], Role::Control)
                    {
                        return;
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    rt.phase = Some(Phase::Running);
                    rt.deadline = None;
                    let sub = if rt.main_pid.is_some() {
                        "running"
                    } else {
                        "exited"
                    };
                    self.set_state(n, ActiveState::Active, sub);
                    self.finish_job(n, JobResult::Done);
                    return;
                }
                Phase::Stop => {
                    if idx < s.exec_stop.len() {
                        if self.spawn(n, &s, &s.exec_stop[idx], Role::Control) {
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx += 1;
                        continue;
                    }
                    self.enter_sigterm(n, &s);
                    return;
                }
                Phase::StopSigterm | Phase::StopSigkill => {
                    if !self.unit_alive(n) {
                        self.set_phase(n, Phase::StopPost);
                        let rt = self.rt.entry(n.to_string()).or_default();
                        rt.deadline = s
                            .timeout_stop
                            .resolve(self.cfg.default_timeout_stop)
                            .and_then(|d| now().checked_add(d));
                        continue;
                    }
                    return;
                }
                Phase::StopPost => {
                    if idx < s.exec_stop_post.len() {
                        if self.spawn(n, &s, &s.exec_stop_post[idx], Role::Control) {
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx += 1;
                        continue;
                    }
                    self.finalize(n, &s);
                    return;
                }
                Phase::Running | Phase::Idle | Phase::AutoRestart => return,
            }
        }
    }

    pub(super) fn set_phase(&mut self, n: &str, p: Phase) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.phase = Some(p);
        rt.idx = 0;
    }

    pub(super) fn fail_start(&mut self, n: &str, why: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.result.is_none() {
            rt.result = Some(why.to_string());
        }
        if let Some(s) = self.svc(n) {
            self.enter_sigterm(n, &s);
        }
    }

    /// Begins stopping: ExecStop= (only if the service got started), then signals.
    pub(super) fn enter_stop(&mut self, n: &str, explicit: bool) {
        let Some(s) = self.svc(n) else { return };
        let rt = self.rt.entry(n.to_string()).or_default();
        if explicit {
            rt.explicit_stop = true;
        }
        let was_running = rt.ph() == Phase::Running;
        rt.watchdog_at = None;
        rt.deadline = s
            .timeout_stop
            .resolve(self.cfg.default_timeout_stop)
            .and_then(|d| now().checked_add(d));
        self.set_state(n, ActiveState::Deactivating, "stop");
        if was_running {
            self.set_phase(n, Phase::Stop);
            self.advance(n);
        } else {
            self.enter_sigterm(n, &s);
        }
    }

    pub(super) fn enter_sigterm(&mut self, n: &str, s: &ServiceConfig) {
        let timeout = s.timeout_stop.resolve(self.cfg.default_timeout_stop);
        self.set_phase(n, Phase::StopSigterm);
        self.set_state(n, ActiveState::Deactivating, "stop-sigterm");
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.deadline = timeout.and_then(|d| now().checked_add(d));
        let main = rt.main_pid;
        let control = rt.control_pid;
        match s.kill_mode {
            KillMode::ControlGroup => {
                for p in self.unit_procs(n) {
                    kill(p, s.kill_signal);
                    kill(p, libc::SIGCONT);
                    if s.send_sighup {
                        kill(p, libc::SIGHUP);
                    }
                }
            }
            KillMode::Mixed | KillMode::Process => {
                for p in main.into_iter().chain(control) {
                    kill(p, s.kill_signal);
                    kill(p, libc::SIGCONT);
                    if s.send_sighup {
                        kill(p, libc::SIGHUP);
                    }
                }
            }
            KillMode::None => {}
        }
        self.advance(n);
    }

    pub(super) fn enter_sigkill(&mut self, n: &str, s: &ServiceConfig) {
        let procs = self.unit_procs(n);
        let rt = self.rt.entry(n.to_string()).or_default();
        let blockers: Vec<String> = procs.iter().map(|p| describe_pid(*p)).collect();
        rt.phase = Some(Phase::StopSigkill);
        rt.deadline = Some(now() + Duration::from_secs(5));
        if rt.result.is_none() {
            rt.result = Some("timeout".into());
        }
        let main = rt.main_pid;
        self.logs.push(
            n,
            &format!("stop timed out; sending SIGKILL to {}", blockers.join(", ")),
        );
        match s.kill_mode {
            KillMode::ControlGroup | KillMode::Mixed => {
                procs.iter().for_each(|p| kill(*p, libc::SIGKILL));
                // All of the subtree at once, hidden processes included (Linux 5.14+).
                self.cgroup_kill(n);
            }
            KillMode::Process => main.iter().for_each(|p| kill(*p, libc::SIGKILL)),
            KillMode::None => {}
        }
        self.advance(n);
    }

    /// Whether processes of the unit that we must wait for remain.
    pub(super) fn unit_alive(&self, n: &str) -> bool {
        let Some(rt) = self.rt.get(n) else {
            return false;
        };
        let mode = self
            .svc(n)
            .map(|s| s.kill_mode)
            .unwrap_or(KillMode::ControlGroup);
        if rt.control_pid.is_some() {
            return true;
        }
        // KillMode=none leaves every process running and waits for none of them.
        if mode == KillMode::None {
            return false;
        }
        if rt.main_pid.is_some() {
            return true;
        }
        match mode {
            // cgroup.events covers the whole subtree, whatever a delegated service
            // built below its cgroup.
            KillMode::ControlGroup => self
                .cgroup_populated(n)
                .unwrap_or_else(|| !self.unit_procs(n).is_empty()),
            // With mixed, leftovers get SIGKILL at the end of stopping; with process and none they stay.
            KillMode::Mixed => {
                let procs = self.unit_procs(n);
                procs.iter().for_each(|p| kill(*p, libc::SIGKILL));
                false
            }
            _ => false,
        }
    }

    /// Processes of a unit: members of its process groups or sessions, or carriers of
    /// its invocation marker in the environment (daemons that made their own session).
    pub(super) fn unit_procs(&self, n: &str) -> Vec<i32> {
        let Some(rt) = self.rt.get(n) else {
            return vec![];
        };
        if rt.invocation.is_empty() {
            return vec![];
        }
        if let Some(procs) = self.cgroup_procs(n) {
            return procs;
        }
        let marker = format!("B8G_INVOCATION={}", rt.invocation);
        let mut v = Vec::new();
        for (pid, pgid, sid, state) in list_procs() {
            if pid == std::process::id() as i32 || state == 'Z' {
                continue;
            }
            if rt.pgids.contains(&pgid)
                || rt.pgids.contains(&sid)
                || Some(pid) == rt.main_pid
                || Some(pid) == rt.control_pid
            {
                v.push(pid);
                continue;
            }
            if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                if env.split(|b| *b == 0).any(|e| e == marker.as_bytes()) {
                    v.push(pid);
                }
            }
        }
        v
    }

    pub(super) fn finalize(&mut self, n: &str, s: &ServiceConfig) {
        let u = self.set.units.get(n).cloned();
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.deadline = None;
        rt.phase = Some(Phase::Idle);
        rt.main_pid = None;
        rt.control_pid = None;
        rt.ready_fd = None;
        rt.conn_fd = None;
        let failed = rt.result.is_some();
        let explicit = rt.explicit_stop;
        let restart_job = std::mem::take(&mut rt.restart_job);
        let skipped = std::mem::take(&mut rt.condition_skipped);
        let result = rt.result.clone().unwrap_or_default();
        for d in &s.exec.runtime_directories {
            // The service may have planted a symlink above `d`: never remove through it.
            if let Err(e) = crate::safefs::remove_beneath(&self.cfg.run_dir, d) {
                self.logs
                    .push(n, &format!("cannot remove runtime directory: {e}"));
            }
        }
        self.remove_unit_cgroup(n);
        let clean = !failed;
        let restart = !explicit
            && !skipped
            && self.shutdown.is_none()
            && match s.restart {
                RestartPolicy::No => false,
                RestartPolicy::Always => true,
                RestartPolicy::OnSuccess => clean,
                RestartPolicy::OnFailure => !clean,
                RestartPolicy::OnAbnormal => {
                    result.starts_with("signal") || result == "timeout" || result == "watchdog"
                }
                RestartPolicy::OnAbort => result.starts_with("signal"),
                RestartPolicy::OnWatchdog => result == "watchdog",
            }
            && !result.starts_with("start-limit");
        if failed {
            self.set_state(n, ActiveState::Failed, "failed");
            self.degraded = true;
        } else {
            self.set_state(n, ActiveState::Inactive, "dead");
        }
        // A start job still pending means the start never completed.
        if let Some(j) = self.engine.jobs.get(n).map(|j| j.kind) {
            match j {
                JobKind::Start => self.finish_job(
                    n,
                    if failed {
                        JobResult::Failed
                    } else {
                        JobResult::Done
                    },
                ),
                JobKind::Stop => self.finish_job(n, JobResult::Done),
                JobKind::Restart if restart_job => {
                    if let Some(u) = &u {
                        self.service_start(u, s);
                        return;
                    }
                }
                _ => {}
            }
        }
        if self.rt.get(n).is_some_and(|r| r.transient) && !self.engine.has_job(n) {
            // Connection instances would otherwise pile up, one per accepted connection.
            self.read_log(n);
            self.logs.forget(n);
            self.rt.remove(n);
            self.set.units.remove(n);
            self.engine.rebuild(&self.set);
            return;
        }
        if restart {
            let rt = self.rt.entry(n.to_string()).or_default();
            rt.restarts += 1;
            let mut delay = s.restart_sec;
            if let Some(max) = s.restart_max_delay {
                // Exponential backoff from RestartSec= up to RestartMaxDelaySec=.
                let f = 2u32.saturating_pow(rt.restarts.saturating_sub(1).min(16));
                delay = s
                    .restart_sec
                    .max(Duration::from_millis(1))
                    .checked_mul(f)
                    .unwrap_or(max)
                    .min(max);
            }
            rt.restart_at = now().checked_add(delay);
            rt.phase = Some(Phase::AutoRestart);
            let count = rt.restarts;
            self.logs.push(
                n,
                &format!("scheduling restart #{count} in {} ms", delay.as_millis()),
            );
            self.set_state(n, ActiveState::Activating, "auto-restart");
            return;
        }
        if let Some(u) = &u {
            let bound: Vec<String> = self
                .set
                .units
                .values()
                .filter(|o| {
                    o.deps.binds_to.contains(n) && self.state_of(&o.name) != ActiveState::Inactive
                })
                .map(|o| o.name.clone())
                .collect();
            for b in bound {
                let _ = self.stop_unit(&b);
            }
            if failed {
                for f in u.deps.on_failure.clone() {
                    let _ = self.start_unit(&f, false);
                }
            }
        }
    }

    pub(super) fn state_reset_for_restart(&mut self, n: &str) {
        // The unit is "inactive" for the engine so the start job actually runs.
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.state = Some(ActiveState::Activating);
    }
}
