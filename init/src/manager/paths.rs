//! `.path` units.

use super::*;

impl Manager {
    pub(super) fn path_start(&mut self, n: &str, c: &PathConfig) {
        if c.make_directory {
            for (kind, p) in &c.watches {
                if matches!(kind, PathWatch::Exists | PathWatch::ExistsGlob) {
                    continue;
                }
                let made = std::fs::create_dir_all(p).and_then(|()| {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(c.directory_mode))
                });
                if let Err(e) = made {
                    self.logs
                        .push(n, &format!("cannot create {}: {e}", p.display()));
                }
            }
        }
        match PathWatcher::new(&c.watches) {
            Ok(w) => {
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.path_watch = Some(w);
                rt.triggers.clear();
                self.set_state(n, ActiveState::Active, "waiting");
                self.finish_job(n, JobResult::Done);
            }
            Err(e) => {
                self.logs.push(n, &format!("cannot watch: {e}"));
                self.rt.entry(n.to_string()).or_default().result = Some("resources".into());
                self.set_state(n, ActiveState::Failed, "failed");
                self.finish_job(n, JobResult::Failed);
            }
        }
    }

    pub(super) fn path_config(&self, n: &str) -> Option<PathConfig> {
        match &self.set.units.get(n)?.config {
            KindConfig::Path(c) => Some((**c).clone()),
            _ => None,
        }
    }

    pub(super) fn path_event(&mut self, n: &str) {
        let Some(c) = self.path_config(n) else {
            return;
        };
        let fired = self
            .rt
            .get_mut(n)
            .and_then(|rt| rt.path_watch.as_mut())
            .and_then(|w| w.read_events(&c.watches));
        if let Some(spec) = fired {
            let (kind, p) = &c.watches[spec];
            let why = format!("{} {}", pathwatch::describe(*kind), p.display());
            self.path_trigger(n, &c, &why);
        }
    }

    /// Level conditions trigger whenever they hold and the unit they start is
    /// inactive: at start, after events, and when that unit stops again. A
    /// failed unit is not started again by a level condition (no busy loop).
    pub(super) fn path_check_levels(&mut self) {
        let waiting: Vec<String> = self
            .rt
            .iter()
            .filter(|(_, rt)| rt.st() == ActiveState::Active && rt.path_watch.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for n in waiting {
            let Some(c) = self.path_config(&n) else {
                continue;
            };
            let Some(u) = self.set.units.get(&n) else {
                continue;
            };
            // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
            // jobs and runtime are kept under the unit's own name.
            let target = self
                .set
                .resolve(&load::triggered_unit(u, c.unit.as_deref()))
                .to_string();
            let idle = self.state_of(&target) == ActiveState::Inactive
                && !self.engine.jobs.values().any(|j| j.unit == target);
            if !idle {
                continue;
            }
            if let Some(why) = pathwatch::level_holds(&c.watches) {
                self.path_trigger(&n, &c, &why);
            }
        }
    }

    pub(super) fn path_trigger(&mut self, n: &str, c: &PathConfig, why: &str) {
        let Some(u) = self.set.units.get(n) else {
            return;
        };
        // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
        // jobs and runtime are kept under the unit's own name.
        let target = self
            .set
            .resolve(&load::triggered_unit(u, c.unit.as_deref()))
            .to_string();
        let t = now();
        let rt = self.rt.entry(n.to_string()).or_default();
        while rt
            .triggers
            .front()
            .is_some_and(|f| t.saturating_duration_since(*f) > c.trigger_limit_interval)
        {
            rt.triggers.pop_front();
        }
        rt.triggers.push_back(t);
        if rt.triggers.len() > c.trigger_limit_burst as usize {
            rt.path_watch = None;
            rt.result = Some("trigger-limit-hit".into());
            self.logs.push(
                n,
                &format!(
                    "triggered more than {} times in {:?}: trigger-limit-hit",
                    c.trigger_limit_burst, c.trigger_limit_interval
                ),
            );
            self.set_state(n, ActiveState::Failed, "failed");
            return;
        }
        self.logs.push(n, &format!("{why}: starting {target}"));
        if let Err(e) = self.start_unit(&target, false) {
            self.logs.push(n, &format!("cannot start {target}: {e}"));
        }
    }

    // ---------------------------------------------------------------- sockets
}
