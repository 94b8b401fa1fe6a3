//! Jobs: the event loop's iteration, starting and stopping units, conditions.

use super::*;

impl Manager {
    /// Queues a start job; the boot target is started this way too.
    pub fn start_unit(&mut self, name: &str, isolate: bool) -> Result<(), String> {
        self.ensure_loaded(name);
        let st: BTreeMap<String, ActiveState> =
            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
        let f = |n: &str| st.get(n).copied().unwrap_or(ActiveState::Inactive);
        let r = self
            .engine
            .start(&self.set, name, isolate, &f)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.drain_engine_messages();
        r
    }

    pub(super) fn stop_unit(&mut self, name: &str) -> Result<(), String> {
        let st: BTreeMap<String, ActiveState> =
            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
        let f = |n: &str| st.get(n).copied().unwrap_or(ActiveState::Inactive);
        let r = self
            .engine
            .stop(&self.set, name, &f)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.drain_engine_messages();
        r
    }

    pub(super) fn drain_engine_messages(&mut self) {
        for m in std::mem::take(&mut self.engine.messages) {
            self.say(&m);
        }
    }

    pub(super) fn set_state(&mut self, n: &str, st: ActiveState, sub: &'static str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        let old = rt.st();
        rt.state = Some(st);
        rt.sub = sub;
        if st == ActiveState::Active && old != ActiveState::Active {
            rt.activated = Some(now());
        }
        if matches!(st, ActiveState::Inactive | ActiveState::Failed) && old != st {
            rt.inactive_since = Some(now());
        }
        if old != st {
            let desc = self.set.get(n).and_then(|u| u.description.clone());
            let what = match st {
                ActiveState::Active => "started",
                ActiveState::Failed => "failed",
                ActiveState::Inactive if old == ActiveState::Deactivating || old.is_active() => {
                    "stopped"
                }
                _ => "",
            };
            if !what.is_empty() {
                let result = self
                    .rt
                    .get(n)
                    .and_then(|r| r.result.clone())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                let d = desc.map(|d| format!(" - {d}")).unwrap_or_default();
                let line = self.logs.push(n, &format!("{what}{result}"));
                self.logs.push(MANAGER, &format!("{n}{d}: {what}{result}"));
                let failed = st == ActiveState::Failed;
                if state_on_console(self.cfg.boot, self.settled, self.shutdown.is_some(), failed) {
                    self.console(&line);
                }
            }
        }
    }

    // ---------------------------------------------------------------- the loop

    /// One iteration: dispatch jobs, wait for events, handle them.
    pub fn iterate(&mut self) {
        self.dispatch();
        self.bus_maybe_connect();
        self.bus_check_activations();
        let timeout = self.next_timeout();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut kinds: Vec<(u8, String)> = Vec::new();
        let mut add = |fd: RawFd, kind: u8, name: &str, fds: &mut Vec<libc::pollfd>| {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            kinds.push((kind, name.to_string()));
        };
        // Log datagrams before signals: a client that logs and exits is reaped in the
        // signal handling, after which its message could no longer be attributed.
        if let Some(n) = &self.syslog {
            add(n.as_raw_fd(), 7, "", &mut fds);
        }
        add(self.sigfd.as_raw_fd(), 0, "", &mut fds);
        if let Some(k) = &self.kmsg {
            add(k.as_raw_fd(), 8, "", &mut fds);
        }
        if let Some(u) = &self.udev {
            add(u.as_raw_fd(), 10, "", &mut fds);
        }
        if let Some(c) = &self.control {
            add(c.as_raw_fd(), 1, "", &mut fds);
        }
        if let Some(n) = &self.notify {
            add(n.as_raw_fd(), 2, "", &mut fds);
        }
        for (name, rt) in &self.rt {
            if let Some(r) = &rt.log_r {
                add(r.as_raw_fd(), 3, name, &mut fds);
            }
            if let Some(r) = &rt.ready_fd {
                add(r.as_raw_fd(), 4, name, &mut fds);
            }
            if let (ActiveState::Active, Some(w)) = (rt.st(), &rt.path_watch) {
                add(w.fd(), 6, name, &mut fds);
            }
            if rt.st() == ActiveState::Active
                && !rt.listen_fds.is_empty()
                && self.socket_wants_poll(name)
            {
                for fd in &rt.listen_fds {
                    add(fd.as_raw_fd(), 5, name, &mut fds);
                }
            }
        }
        if let Some((fd, events)) = self.bus_poll_events() {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            kinds.push((9, String::new()));
        }
        let ms = timeout
            .map(|d| d.as_millis().min(60_000) as i32)
            .unwrap_or(60_000);
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n > 0 {
            for (i, p) in fds.iter().enumerate() {
                if p.revents == 0 {
                    continue;
                }
                let (kind, name) = &kinds[i];
                match kind {
                    0 => self.handle_signals(),
                    1 => self.handle_control(),
                    2 => self.handle_notify(),
                    3 => self.read_log(name),
                    4 => self.read_ready_fd(name),
                    5 => self.socket_ready(name, p.fd),
                    6 => self.path_event(name),
                    7 => self.handle_syslog(),
                    8 => self.handle_kmsg(),
                    9 => self.handle_bus(p.revents),
                    10 => self.handle_udev(),
                    _ => {}
                }
            }
        }
        self.path_check_levels();
        self.handle_deadlines();
        self.check_shutdown_progress();
    }

    pub(super) fn next_timeout(&self) -> Option<Duration> {
        let t = now();
        let mut best: Option<Instant> = None;
        let mut consider = |d: Option<Instant>| {
            if let Some(d) = d {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        };
        for (name, rt) in &self.rt {
            consider(rt.deadline);
            consider(rt.restart_at);
            consider(rt.watchdog_at);
            if matches!(
                rt.ph(),
                Phase::StopSigterm | Phase::StopSigkill | Phase::PidFile
            ) {
                consider(Some(t + Duration::from_millis(50)));
            }
            if let Some(u) = self.set.units.get(name) {
                if rt.st() == ActiveState::Active {
                    if let KindConfig::Timer(_) = u.config {
                        consider(self.timer_next(name));
                    }
                }
            }
        }
        if let (Some(since), false) = (self.idle_since, self.idle_waiting.is_empty()) {
            consider(since.checked_add(IDLE_MAX_WAIT));
        }
        if self.shutdown.is_some() {
            consider(Some(t + Duration::from_millis(100)));
        }
        consider(self.bus_retry_at());
        best.map(|b| b.saturating_duration_since(t))
    }

    pub(super) fn dispatch(&mut self) {
        loop {
            let ready = self.engine.runnable();
            let any = !ready.is_empty();
            for (n, kind) in ready {
                self.run_job(&n, kind);
            }
            // Starting an idle service may finish jobs and so make others runnable.
            if !self.start_idle() && !any {
                break;
            }
        }
        self.process_finished();
    }

    /// Starts the parked Type=idle services once no other job runs or their wait is
    /// over. Returns whether it started any.
    pub(super) fn start_idle(&mut self) -> bool {
        if self.idle_waiting.is_empty() {
            return false;
        }
        let expired = self
            .idle_since
            .is_some_and(|s| s.elapsed() >= IDLE_MAX_WAIT);
        let mut started = false;
        for n in std::mem::take(&mut self.idle_waiting) {
            // The job may have been cancelled or replaced meanwhile (a stop request).
            let still =
                self.engine.jobs.get(&n).is_some_and(|j| {
                    j.running && matches!(j.kind, JobKind::Start | JobKind::Restart)
                });
            if !still {
                continue;
            }
            if !expired && self.busy_besides(&n) {
                self.idle_waiting.insert(n);
                continue;
            }
            let unit = self.set.units.get(&n).cloned();
            if let Some((u, s)) = unit.as_ref().and_then(|u| Some((u, u.service()?.clone()))) {
                self.service_start(u, &s);
                started = true;
            }
        }
        if self.idle_waiting.is_empty() {
            self.idle_since = None;
        }
        started
    }

    pub(super) fn process_finished(&mut self) {
        for (n, kind, res) in std::mem::take(&mut self.engine.finished) {
            if kind == JobKind::Start && res == JobResult::Dependency {
                self.rt
                    .entry(n.clone())
                    .or_default()
                    .result
                    .get_or_insert_with(|| "dependency".into());
                self.logs.push(&n, "dependency failed");
                self.say(&format!("{n}: dependency failed, not starting"));
            }
            if n == "local-fs.target" && kind == JobKind::Start && res != JobResult::Done {
                self.local_fs_failed = Some(res);
            }
            if n == self.boot_target() && kind == JobKind::Start && !self.ready_reported {
                self.ready_reported = true;
                self.report_ready(res);
            }
        }
        self.drain_engine_messages();
    }

    pub(super) fn boot_target(&self) -> String {
        self.set.resolve(&self.cfg.default_target).to_string()
    }

    pub(super) fn report_ready(&mut self, res: JobResult) {
        self.settled = true;
        let ms = if self.cfg.boot {
            uptime_ms()
        } else {
            self.start.elapsed().as_millis() as u64
        };
        if res != JobResult::Done {
            self.degraded = true;
            self.say(&format!(
                "default target {} was not reached ({res:?}); not marking the boot good",
                self.boot_target()
            ));
            return;
        }
        if let Some(lf) = self.local_fs_failed {
            self.degraded = true;
            self.say(&format!(
                "local-fs.target failed ({lf:?}: a file system was not mounted); not marking the boot good"
            ));
            return;
        }
        let line = format!("b8g: system ready in {ms} ms");
        self.logs.push(MANAGER, &line);
        self.console(&line);
        let p = boot_good_path(&self.cfg.state_dir);
        let body = format!(
            "system={}\nready_ms={ms}\n",
            self.cfg
                .system
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default()
        );
        let tmp = p.with_extension("tmp");
        let ok = p.parent().map(std::fs::create_dir_all).transpose().is_ok()
            && std::fs::write(&tmp, body).is_ok()
            && std::fs::File::open(&tmp).and_then(|f| f.sync_all()).is_ok()
            && std::fs::rename(&tmp, &p).is_ok();
        if !ok {
            self.say(&format!("could not write {}", p.display()));
        }
    }

    pub(super) fn run_job(&mut self, n: &str, kind: JobKind) {
        let Some(unit) = self.set.units.get(n).cloned() else {
            self.engine.finish(&self.set, n, JobResult::Failed);
            return;
        };
        match kind {
            JobKind::Start => self.begin_start(&unit),
            JobKind::Stop => self.begin_stop(&unit),
            JobKind::Restart => {
                if self.state_of(n) == ActiveState::Inactive
                    || self.state_of(n) == ActiveState::Failed
                {
                    self.begin_start(&unit);
                } else {
                    self.rt.entry(n.to_string()).or_default().restart_job = true;
                    self.begin_stop(&unit);
                }
            }
            JobKind::Reload => self.begin_reload(&unit),
        }
    }

    pub(super) fn finish_job(&mut self, n: &str, res: JobResult) {
        // A restart of a unit without processes of its own (timer, socket, path, mount,
        // target) ends its stop here: start it again within the same job. Services
        // start again from `finalize`.
        if res == JobResult::Done
            && self.engine.jobs.get(n).map(|j| j.kind) == Some(JobKind::Restart)
            && !self.state_of(n).is_active()
            && self.rt.get(n).is_some_and(|r| r.restart_job)
        {
            if let Some(u) = self.set.units.get(n).cloned() {
                if let Some(rt) = self.rt.get_mut(n) {
                    rt.restart_job = false;
                }
                self.begin_start(&u);
                return;
            }
        }
        if self.engine.has_job(n) {
            self.engine.finish(&self.set, n, res);
        }
    }

    // ---------------------------------------------------------------- starting

    pub(super) fn check_conditions(&self, u: &Unit, asserts: bool) -> Result<(), String> {
        let list = if asserts { &u.asserts } else { &u.conditions };
        let (mut triggers, mut trigger_met) = (Vec::new(), false);
        for c in list {
            let p = Path::new(&c.value);
            let ok = match c.kind {
                ConditionKind::PathExists => p.exists(),
                ConditionKind::PathExistsGlob => crate::condition::glob_matches(p),
                ConditionKind::PathIsDirectory => p.is_dir(),
                ConditionKind::FileNotEmpty => p
                    .metadata()
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false),
                ConditionKind::DirectoryNotEmpty => std::fs::read_dir(p)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false),
                ConditionKind::FileIsExecutable => p
                    .metadata()
                    .map(|m| {
                        m.is_file()
                            && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111
                                != 0
                    })
                    .unwrap_or(false),
                ConditionKind::PathIsSymbolicLink => p.is_symlink(),
                ConditionKind::PathIsMountPoint => is_mount_point(p),
                ConditionKind::PathIsReadWrite => is_read_write(p),
                ConditionKind::FirstBoot => {
                    let machine_id = if self.cfg.boot {
                        std::path::PathBuf::from("/etc/machine-id")
                    } else {
                        self.cfg.etc_dir.join("machine-id")
                    };
                    let want = crate::unit::parse::parse_bool(&c.value).unwrap_or(true);
                    crate::condition::first_boot(&machine_id) == want
                }
                ConditionKind::NeedsUpdate => crate::condition::needs_update(p),
                ConditionKind::Virtualization => {
                    crate::condition::virtualization(&c.value).unwrap_or(true)
                }
                ConditionKind::Capability => c
                    .value
                    .strip_prefix("CAP_")
                    .and_then(|n| crate::unit::parse::CAPS.iter().position(|x| *x == n))
                    .is_none_or(|i| crate::condition::capability(i as u32)),
                ConditionKind::Security => crate::condition::security(&c.value).unwrap_or(true),
                ConditionKind::ACPower => {
                    let want = crate::unit::parse::parse_bool(&c.value).unwrap_or(true);
                    crate::condition::ac_power() == want
                }
                ConditionKind::KernelCommandLine => {
                    let v = &c.value;
                    self.cfg
                        .kernel_cmdline
                        .split_whitespace()
                        .any(|w| w == v || (!v.contains('=') && w.split('=').next() == Some(v)))
                }
            };
            let what = format!(
                "{}{:?} {}{}{}",
                if asserts { "Assert" } else { "Condition" },
                c.kind,
                if c.trigger { "|" } else { "" },
                if c.negate { "!" } else { "" },
                c.value
            );
            if c.trigger {
                triggers.push(what);
                trigger_met |= ok != c.negate;
            } else if ok == c.negate {
                return Err(format!("{what} not met"));
            }
        }
        if !triggers.is_empty() && !trigger_met {
            return Err(format!("none of {} met", triggers.join(", ")));
        }
        Ok(())
    }

    pub(super) fn begin_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        if let Some(e) = &u.load_error {
            self.say(&format!("{n}: cannot start: {e}"));
            self.rt.entry(n.clone()).or_default().result = Some(format!("load error: {e}"));
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        // Requirements ordered before us must be up; otherwise fail as a dependency.
        let deps: Vec<String> = u
            .deps
            .requires
            .iter()
            .chain(&u.deps.binds_to)
            .chain(&u.deps.requisite)
            .cloned()
            .collect();
        for d in deps {
            if let Some(e) = self.set.units.get(&d).and_then(|du| du.load_error.clone()) {
                self.rt.entry(n.clone()).or_default().result = Some(format!("dependency {d}: {e}"));
                self.logs
                    .push(&n, &format!("required unit {d} cannot be loaded: {e}"));
                self.finish_job(&n, JobResult::Dependency);
                return;
            }
            let ordered = self.engine.ordered_after(&n).any(|a| *a == d);
            let st = self.state_of(&d);
            // A required oneshot (modprobe@.service) that ran to a clean end is inactive
            // again, yet its job succeeded: that satisfies Requires=, as in systemd.
            let ran_clean = st == ActiveState::Inactive
                && u.deps.requires.contains(&d)
                && !u.deps.requisite.contains(&d)
                && !u.deps.binds_to.contains(&d)
                && self
                    .rt
                    .get(&d)
                    .is_some_and(|r| r.last_start.is_some() && r.result.is_none());
            if (ordered || u.deps.requisite.contains(&d))
                && !st.is_active()
                && !ran_clean
                && !self.engine.has_job(&d)
            {
                self.rt.entry(n.clone()).or_default().result =
                    Some(format!("dependency {d} is {}", st.as_str()));
                self.logs.push(&n, &format!("dependency {d} is not active"));
                self.finish_job(&n, JobResult::Dependency);
                return;
            }
        }
        if n.ends_with(".device") {
            self.device_start(u);
            return;
        }
        if let Err(m) = self.check_conditions(u, false) {
            self.logs.push(&n, &format!("skipped: {m}"));
            self.finish_job(&n, JobResult::Skipped);
            return;
        }
        if let Err(m) = self.check_conditions(u, true) {
            self.rt.entry(n.clone()).or_default().result = Some(m.clone());
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        if self.state_of(&n).is_active()
            && !matches!(self.rt.get(&n).map(Rt::ph), Some(Phase::AutoRestart))
        {
            self.finish_job(&n, JobResult::Done);
            return;
        }
        // On a root with systemd installed, its journal daemon: b8g-init is the journal
        // (/dev/log, services' output), and journald's sockets are b8g-init's own paths.
        if JOURNAL_UNITS.contains(&n.as_str()) {
            self.logs
                .push(&n, "the journal is b8g-init itself: not started");
            self.set_state(&n, ActiveState::Active, "b8g-init");
            self.finish_job(&n, JobResult::Done);
            return;
        }
        match &u.config {
            KindConfig::Target => {
                self.set_state(&n, ActiveState::Active, "active");
                self.finish_job(&n, JobResult::Done);
                self.maybe_shutdown_target(&n);
            }
            // A slice is its cgroup, made when a unit in it starts (with the slice's
            // settings); as a unit it is active once started.
            KindConfig::Slice(_) => {
                self.set_state(&n, ActiveState::Active, "active");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Service(s) => {
                let s = (**s).clone();
                if s.service_type == ServiceType::Idle && self.busy_besides(&n) {
                    // Type=idle waits until other jobs are done (at most 5 s), like systemd.
                    // The job stays running in the engine and the unit is parked; the loop
                    // keeps handling events and `start_idle` starts it when the time comes.
                    let since = match self.idle_since {
                        Some(s) if !self.idle_waiting.is_empty() => s,
                        _ => now(),
                    };
                    self.idle_since = Some(since);
                    if since.elapsed() < IDLE_MAX_WAIT {
                        self.idle_waiting.insert(n);
                        return;
                    }
                }
                self.service_start(u, &s);
            }
            KindConfig::Socket(_) => self.socket_start(u),
            KindConfig::Timer(c) => {
                let c = (**c).clone();
                self.timer_start(&n, &c);
                self.set_state(&n, ActiveState::Active, "waiting");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Mount(_) => self.mount_start(u),
            KindConfig::Swap(_) => self.swap_start(u),
            KindConfig::Path(c) => {
                let c = (**c).clone();
                self.path_start(&n, &c);
            }
        }
    }

    pub(super) fn busy_besides(&self, n: &str) -> bool {
        self.engine.jobs.values().any(|j| {
            j.unit != n
                && j.running
                && self
                    .set
                    .get(&j.unit)
                    .and_then(|u| u.service())
                    .is_none_or(|s| s.service_type != ServiceType::Idle)
        })
    }

    pub(super) fn maybe_shutdown_target(&mut self, n: &str) {
        let kind = match n {
            "poweroff.target" => ShutdownKind::Poweroff,
            "reboot.target" => ShutdownKind::Reboot,
            "halt.target" => ShutdownKind::Halt,
            _ => return,
        };
        self.begin_shutdown(kind);
    }

    pub(super) fn sockets_for(&self, u: &Unit) -> Vec<String> {
        let mut v: Vec<String> = u.service().map(|s| s.sockets.clone()).unwrap_or_default();
        for o in self.set.units.values() {
            if let KindConfig::Socket(c) = &o.config {
                if !c.accept
                    && self
                        .set
                        .resolve(&load::socket_service(o, c.service.as_deref()))
                        == u.name
                    && !v.contains(&o.name)
                {
                    v.push(o.name.clone());
                }
            }
        }
        v
    }

    // ---------------------------------------------------------------- stopping

    pub(super) fn begin_stop(&mut self, u: &Unit) {
        let n = u.name.clone();
        match &u.config {
            KindConfig::Service(_) => {
                let ph = self.rt.get(&n).map(Rt::ph).unwrap_or(Phase::Idle);
                match ph {
                    Phase::Idle => {
                        let rt = self.rt.entry(n.clone()).or_default();
                        rt.result = None;
                        self.set_state(&n, ActiveState::Inactive, "dead");
                        self.finish_job(&n, JobResult::Done);
                    }
                    Phase::AutoRestart => {
                        let rt = self.rt.entry(n.clone()).or_default();
                        rt.restart_at = None;
                        rt.phase = Some(Phase::Idle);
                        self.set_state(&n, ActiveState::Inactive, "dead");
                        self.finish_job(&n, JobResult::Done);
                    }
                    Phase::Stop | Phase::StopSigterm | Phase::StopSigkill | Phase::StopPost => {
                        self.rt.entry(n.clone()).or_default().explicit_stop = true;
                    }
                    Phase::Running => self.enter_stop(&n, true),
                    _ => {
                        self.rt.entry(n.clone()).or_default().explicit_stop = true;
                        if let Some(s) = self.svc(&n) {
                            // Stopping during start: a pending start job is canceled.
                            self.enter_sigterm(&n, &s);
                        }
                    }
                }
            }
            KindConfig::Socket(c) => {
                let rt = self.rt.entry(n.clone()).or_default();
                rt.listen_fds.clear();
                if c.remove_on_stop {
                    // Sockets and FIFOs only: a ListenSpecial= device stays.
                    for l in c.listen.iter().filter(|l| l.kind != ListenKind::Special) {
                        if l.address.starts_with('/') {
                            let _ = std::fs::remove_file(&l.address);
                        }
                    }
                }
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Mount(m) => {
                let flags = if m.lazy_unmount { libc::MNT_DETACH } else { 0 };
                // The root is never unmounted by its unit (-.mount), as in systemd.
                if self.state_of(&n).is_active() && m.where_ != Path::new("/") {
                    if let Err(e) = umount(&m.where_, flags) {
                        self.logs
                            .push(&n, &format!("unmount {}: {e}", m.where_.display()));
                    }
                }
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Swap(_) => self.swap_stop(u),
            KindConfig::Path(_) => {
                let rt = self.rt.entry(n.clone()).or_default();
                rt.path_watch = None;
                rt.triggers.clear();
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            _ => {
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
        }
    }

    pub(super) fn begin_reload(&mut self, u: &Unit) {
        let n = u.name.clone();
        if !self.state_of(&n).is_active() {
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        match u.service() {
            Some(s) if !s.exec_reload.is_empty() => {
                self.set_phase(&n, Phase::Reload);
                self.set_state(&n, ActiveState::Reloading, "reload");
                let t = s.start_timeout(self.cfg.default_timeout_start);
                self.rt.entry(n.clone()).or_default().deadline =
                    t.and_then(|d| now().checked_add(d));
                self.advance(&n);
            }
            _ => self.finish_job(&n, JobResult::Done),
        }
    }

    // ---------------------------------------------------------------- processes
}
