//! Timeouts, watchdogs, restarts and timers that fall due (timer arithmetic in timers.rs).

use super::*;

impl Manager {
    pub(super) fn handle_deadlines(&mut self) {
        let t = now();
        self.device_deadlines(t);
        self.swap_deadlines(t);
        let names: Vec<String> = self.rt.keys().cloned().collect();
        for n in names {
            let Some(rt) = self.rt.get(&n) else { continue };
            let (deadline, restart_at, wd, phase) =
                (rt.deadline, rt.restart_at, rt.watchdog_at, rt.ph());
            if let Some(s) = self.svc(&n) {
                if matches!(
                    phase,
                    Phase::StopSigterm | Phase::StopSigkill | Phase::PidFile
                ) {
                    self.advance(&n);
                }
                let phase = self.rt.get(&n).map(Rt::ph).unwrap_or(Phase::Idle);
                if deadline.is_some_and(|d| d <= t) {
                    self.rt.entry(n.clone()).or_default().deadline = None;
                    match phase {
                        Phase::Condition
                        | Phase::StartPre
                        | Phase::Start
                        | Phase::PidFile
                        | Phase::StartPost => {
                            self.logs.push(&n, "start timed out");
                            self.rt.entry(n.clone()).or_default().result = Some("timeout".into());
                            self.enter_sigterm(&n, &s);
                        }
                        Phase::Reload => {
                            self.logs.push(&n, "reload timed out");
                            self.set_phase(&n, Phase::Running);
                            self.set_state(&n, ActiveState::Active, "running");
                            self.finish_job(&n, JobResult::Failed);
                        }
                        Phase::Stop => {
                            if let Some(c) = self.rt.get(&n).and_then(|r| r.control_pid) {
                                kill(c, libc::SIGKILL);
                            }
                            self.enter_sigterm(&n, &s);
                        }
                        Phase::StopSigterm => {
                            if s.send_sigkill {
                                self.enter_sigkill(&n, &s);
                            } else {
                                self.set_phase(&n, Phase::StopPost);
                                self.advance(&n);
                            }
                        }
                        Phase::StopSigkill => {
                            let left: Vec<String> = self
                                .unit_procs(&n)
                                .iter()
                                .map(|p| describe_pid(*p))
                                .collect();
                            self.say(&format!(
                                "{n}: processes survived SIGKILL: {}",
                                left.join(", ")
                            ));
                            let rt = self.rt.entry(n.clone()).or_default();
                            rt.main_pid = None;
                            rt.control_pid = None;
                            self.set_phase(&n, Phase::StopPost);
                            self.advance(&n);
                        }
                        Phase::StopPost => {
                            if let Some(c) = self.rt.get(&n).and_then(|r| r.control_pid) {
                                kill(c, libc::SIGKILL);
                            }
                            self.finalize(&n, &s);
                        }
                        _ => {}
                    }
                }
                if wd.is_some_and(|d| d <= t) && phase == Phase::Running {
                    self.logs.push(&n, "watchdog timeout");
                    let rt = self.rt.entry(n.clone()).or_default();
                    rt.watchdog_at = None;
                    rt.result = Some("watchdog".into());
                    if let Some(p) = rt.main_pid {
                        kill(p, libc::SIGABRT);
                    }
                    self.enter_stop(&n, false);
                }
                if restart_at.is_some_and(|d| d <= t) && phase == Phase::AutoRestart {
                    self.rt.entry(n.clone()).or_default().restart_at = None;
                    if let Some(u) = self.set.units.get(&n).cloned() {
                        // Restarts go through the engine so ordering still holds.
                        self.set_state(&n, ActiveState::Activating, "auto-restart");
                        let st: BTreeMap<String, ActiveState> =
                            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
                        let me = u.name.clone();
                        let f = move |x: &str| {
                            if x == me {
                                ActiveState::Inactive
                            } else {
                                st.get(x).copied().unwrap_or(ActiveState::Inactive)
                            }
                        };
                        if self.engine.start(&self.set, &u.name, false, &f).is_err() {
                            self.set_state(&n, ActiveState::Failed, "failed");
                        }
                        self.rt.entry(n.clone()).or_default().phase = Some(Phase::Idle);
                        self.state_reset_for_restart(&n);
                    }
                }
            }
            // Timers.
            if self
                .set
                .units
                .get(&n)
                .is_some_and(|u| matches!(u.config, KindConfig::Timer(_)))
                && self.state_of(&n) == ActiveState::Active
            {
                if let Some(next) = self.timer_next(&n) {
                    if next <= now() {
                        self.timer_elapsed(&n, next);
                    }
                }
            }
        }
    }
}
