//! The control socket b8gctl talks to.

use super::*;

impl Manager {
    pub(super) fn open_control(&mut self) {
        let p = self.cfg.control_socket.clone();
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = std::fs::remove_file(&p);
        match UnixListener::bind(&p) {
            Ok(l) => {
                let _ = l.set_nonblocking(true);
                let _ = std::fs::set_permissions(
                    &p,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                );
                self.control = Some(l);
            }
            Err(e) => self.say(&format!("cannot bind control socket {}: {e}", p.display())),
        }
    }

    pub(super) fn handle_control(&mut self) {
        loop {
            let Some(l) = &self.control else { return };
            let Ok((stream, _)) = l.accept() else { return };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            self.serve(stream);
        }
    }

    pub(super) fn serve(&mut self, stream: UnixStream) {
        let mut line = String::new();
        let Ok(read) = stream.try_clone() else { return };
        if BufReader::new(read).read_line(&mut line).is_err() {
            return;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => self.request(&req),
            Err(e) => Response::err(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_string(&resp).unwrap_or_else(|_| "{\"ok\":false}".into());
        out.push('\n');
        let mut w = stream;
        let _ = w.write_all(out.as_bytes());
    }

    pub(super) fn unit_json(&self, n: &str) -> serde_json::Value {
        let u = self.set.get(n);
        let name = self.set.resolve(n);
        let rt = self.rt.get(name);
        let st = self.state_of(name);
        json!({
            "name": name,
            "description": u.and_then(|u| u.description.clone()),
            "load": match u { None => "not-found".to_string(), Some(u) => u.load_error.clone().map(|e| format!("error: {e}")).unwrap_or_else(|| "loaded".into()) },
            "active": st.as_str(),
            "sub": rt.map(|r| r.sub).filter(|s| !s.is_empty()).unwrap_or("dead"),
            "result": rt.and_then(|r| r.result.clone()),
            "main_pid": rt.and_then(|r| r.main_pid),
            "status": rt.and_then(|r| r.status_text.clone()),
            "restarts": rt.map(|r| r.restarts).unwrap_or(0),
            "job": self.engine.jobs.get(name).map(|j| j.kind),
            "sources": u.map(|u| u.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()).unwrap_or_default(),
            // systemctl show's LoadState=.
            "load_state": match u.map(|u| u.load_error.as_deref()) {
                None | Some(Some("unit not found")) => "not-found",
                Some(Some(load::MASKED)) => "masked",
                Some(Some(_)) => "error",
                Some(None) => "loaded",
            },
            "names": std::iter::once(name)
                .chain(self.set.aliases.iter().filter(|(_, t)| *t == name).map(|(a, _)| a.as_str()))
                .collect::<Vec<_>>(),
            "service_type": u.and_then(Unit::service).map(|s| format!("{:?}", s.service_type).to_lowercase()),
            "control_pid": rt.and_then(|r| r.control_pid),
        })
    }

    pub(super) fn system_state(&self) -> &'static str {
        if self.shutdown.is_some() {
            "stopping"
        } else if !self.ready_reported {
            "starting"
        } else if self.degraded || self.rt.values().any(|r| r.st() == ActiveState::Failed) {
            "degraded"
        } else {
            "running"
        }
    }

    /// Queues the jobs of a start/stop/restart/reload/isolate request. The reply names
    /// every unit whose job the request queued or changed (the whole transaction:
    /// dependents stopped with a requirement, units stopped by Conflicts=), so that a
    /// blocking client can wait for all of them, not just for the unit it named.
    pub(super) fn queue_request(&mut self, req: &Request) -> Response {
        let before: BTreeMap<String, JobKind> = self
            .engine
            .jobs
            .iter()
            .map(|(n, j)| (n.clone(), j.kind))
            .collect();
        let mut errs = Vec::new();
        for u in &req.units {
            let r = match req.cmd {
                Command::Start => self.start_unit(u, false),
                Command::Isolate => self.start_unit(u, true),
                Command::Stop => self.stop_unit(u),
                Command::Restart | Command::TryRestart | Command::ReloadOrRestart => {
                    let st = self.state_of(self.set.resolve(u));
                    let stopped = matches!(
                        st,
                        ActiveState::Inactive | ActiveState::Failed | ActiveState::Deactivating
                    );
                    let reloads = self
                        .set
                        .units
                        .get(self.set.resolve(u))
                        .and_then(Unit::service)
                        .is_some_and(|s| !s.exec_reload.is_empty());
                    match req.cmd {
                        // systemctl(1): try-restart does nothing to a unit that is not
                        // running.
                        Command::TryRestart if stopped => Ok(()),
                        Command::Restart | Command::ReloadOrRestart if stopped => {
                            self.start_unit(u, false)
                        }
                        Command::ReloadOrRestart if reloads => self
                            .engine
                            .restart_or_reload(&self.set, u, JobKind::Reload)
                            .map_err(|e| e.to_string()),
                        _ => self
                            .engine
                            .restart_or_reload(&self.set, u, JobKind::Restart)
                            .map_err(|e| e.to_string()),
                    }
                }
                _ => self
                    .engine
                    .restart_or_reload(&self.set, u, JobKind::Reload)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = r {
                errs.push(e);
            }
        }
        if !errs.is_empty() {
            return Response::err(errs.join("; "));
        }
        let queued: Vec<&String> = self
            .engine
            .jobs
            .iter()
            .filter(|(n, j)| before.get(*n) != Some(&j.kind))
            .map(|(n, _)| n)
            .collect();
        Response::ok(json!({ "jobs": queued }))
    }

    pub(super) fn request(&mut self, req: &Request) -> Response {
        let units = &req.units;
        match req.cmd {
            Command::Status => {
                if units.is_empty() {
                    Response::ok(json!({
                        "state": self.system_state(),
                        "units": self.set.units.len(),
                        "jobs": self.engine.jobs.len(),
                        "failed": self.rt.iter().filter(|(_, r)| r.st() == ActiveState::Failed).map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                        "uptime_ms": self.start.elapsed().as_millis() as u64,
                    }))
                } else {
                    for u in units {
                        self.ensure_loaded(u);
                    }
                    Response::ok(json!(units
                        .iter()
                        .map(|u| self.unit_json(u))
                        .collect::<Vec<_>>()))
                }
            }
            Command::ResetFailed => {
                let names: Vec<String> = if units.is_empty() {
                    self.rt.keys().cloned().collect()
                } else {
                    units
                        .iter()
                        .map(|u| self.set.resolve(u).to_string())
                        .collect()
                };
                for n in names {
                    if let Some(rt) = self.rt.get_mut(&n) {
                        rt.starts.clear();
                        rt.restarts = 0;
                        if rt.st() == ActiveState::Failed {
                            rt.state = Some(ActiveState::Inactive);
                            rt.sub = "dead";
                            rt.result = None;
                        }
                    }
                }
                self.degraded = false;
                Response::ok(json!(null))
            }
            Command::ListUnits => {
                let v: Vec<_> = self
                    .set
                    .units
                    .keys()
                    .filter(|n| self.rt.contains_key(*n) || self.set.units[*n].load_error.is_some())
                    .map(|n| self.unit_json(n))
                    .collect();
                Response::ok(json!(v))
            }
            Command::ListDependencies => {
                let root = units
                    .first()
                    .cloned()
                    .unwrap_or_else(|| self.cfg.default_target.clone());
                Response::ok(self.dep_tree(self.set.resolve(&root), &mut BTreeSet::new()))
            }
            Command::IsSystemRunning => Response::ok(json!(self.system_state())),
            Command::Log => {
                let n = units
                    .first()
                    .map(|u| self.set.resolve(u).to_string())
                    .unwrap_or_else(|| MANAGER.to_string());
                Response::ok(json!(self.logs.since(&n, req.after)))
            }
            // Every unit's lines together (journalctl without -u).
            Command::Journal => Response::ok(json!(self.logs.all_since(req.after))),
            Command::DaemonReload => {
                self.reload_units();
                Response::ok(json!(null))
            }
            Command::Poweroff | Command::Reboot | Command::Halt => {
                let k = match req.cmd {
                    Command::Poweroff => ShutdownKind::Poweroff,
                    Command::Reboot => ShutdownKind::Reboot,
                    _ => ShutdownKind::Halt,
                };
                self.begin_shutdown(k);
                Response::ok(json!(null))
            }
            Command::Telinit => match units.first().and_then(|l| sysv::runlevel_target(l)) {
                Some(t) => match self.start_unit(t, true) {
                    Ok(()) => Response::ok(json!(t)),
                    Err(e) => Response::err(e),
                },
                None => Response::err("unknown runlevel"),
            },
            Command::Jobs => Response::ok(json!(self.engine.jobs.values().collect::<Vec<_>>())),
            // Where unit files come from, so that b8gctl enable/disable/mask edit the
            // directories this b8g-init reads.
            Command::Paths => Response::ok(json!({
                "unit_dirs": self.search_path,
                "install_enables": self.cfg.install_enables,
            })),
            Command::Kill => self.kill_request(req),
            Command::ListTimers => Response::ok(self.timers_json()),
            Command::Start
            | Command::Isolate
            | Command::Stop
            | Command::Restart
            | Command::TryRestart
            | Command::ReloadOrRestart
            | Command::Reload => self.queue_request(req),
        }
    }

    /// `systemctl kill`: a signal to the unit's main, control or all processes. The
    /// unit's state is not changed by the request itself, only by what the signal does.
    pub(super) fn kill_request(&mut self, req: &Request) -> Response {
        let sig = req.signal.unwrap_or(libc::SIGTERM);
        let whom = req.whom.as_deref().unwrap_or("all");
        let mut errs = Vec::new();
        for u in &req.units {
            self.ensure_loaded(u);
            let n = self.set.resolve(u).to_string();
            let rt = self.rt.get(&n);
            let pids: Vec<i32> = match whom {
                "main" => rt.and_then(|r| r.main_pid).into_iter().collect(),
                "control" => rt.and_then(|r| r.control_pid).into_iter().collect(),
                "all" => self.unit_procs(&n),
                other => return Response::err(format!("invalid --kill-whom value {other:?}")),
            };
            if pids.is_empty() && whom != "all" {
                errs.push(format!("No {whom} process to kill"));
                continue;
            }
            for p in pids {
                kill(p, sig);
            }
        }
        if errs.is_empty() {
            Response::ok(json!(null))
        } else {
            Response::err(errs.join("; "))
        }
    }

    /// Timers for `systemctl list-timers`: next and last elapse as wall-clock
    /// microseconds since the epoch (null when none), and the unit each activates.
    pub(super) fn timers_json(&self) -> serde_json::Value {
        let wall_us = |i: Instant| -> Option<u64> {
            let t = now();
            let nowu = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?
                .as_micros() as u64;
            let us = if i >= t {
                nowu + (i - t).as_micros() as u64
            } else {
                nowu.saturating_sub((t - i).as_micros() as u64)
            };
            // The two clocks are read a few microseconds apart: to the millisecond, a
            // calendar elapse shows as the whole second it is.
            Some((us + 500) / 1000 * 1000)
        };
        let mut v = Vec::new();
        for (n, u) in &self.set.units {
            let KindConfig::Timer(c) = &u.config else {
                continue;
            };
            if !self.state_of(n).is_active() {
                continue;
            }
            v.push(json!({
                "unit": n,
                "activates": self.set.resolve(&load::triggered_unit(u, c.unit.as_deref())),
                "next_us": self.timer_next(n).and_then(wall_us),
                "last_us": self.rt.get(n).and_then(|r| r.last_trigger).and_then(wall_us),
            }));
        }
        json!(v)
    }

    pub(super) fn dep_tree(&self, n: &str, seen: &mut BTreeSet<String>) -> serde_json::Value {
        let u = self.set.units.get(n);
        let mut children = Vec::new();
        if seen.insert(n.to_string()) {
            if let Some(u) = u {
                for d in u
                    .deps
                    .requires
                    .iter()
                    .chain(&u.deps.wants)
                    .chain(&u.deps.binds_to)
                    .collect::<BTreeSet<_>>()
                {
                    children.push(self.dep_tree(d, seen));
                }
            }
        }
        json!({"name": n, "active": self.state_of(n).as_str(), "deps": children})
    }

    // ---------------------------------------------------------------- shutdown
}
