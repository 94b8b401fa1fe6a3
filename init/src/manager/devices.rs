//! `.device` units from udev ([`crate::udev`]): a device tagged `systemd` is plugged
//! when udevd announces it (its sysfs path, node, symlinks and SYSTEMD_ALIAS= names),
//! SYSTEMD_WANTS= units start with it, a start job of a device waits for it, and units
//! that `BindsTo=` a device stop when it goes away (systemd.device(5)). Without udevd
//! running, a device unit is active when its node exists, as before udev settles.

use super::*;
use crate::udev::{Event, MAX_EVENT};

/// Events handled per wakeup, so that a flood cannot hold the loop.
const BATCH: usize = 64;

impl Manager {
    pub(super) fn open_udev(&mut self) {
        match crate::udev::monitor() {
            Ok(fd) => self.udev = Some(fd),
            Err(e) => {
                self.logs
                    .push(MANAGER, &format!("no udev events (netlink): {e}"));
            }
        }
    }

    /// Whether udevd runs and its rules tag devices for PID 1 (systemd's
    /// 99-systemd.rules or b8g-init's own): only then is a device's event worth waiting
    /// for; otherwise a device unit follows its node.
    fn udev_running(&self) -> bool {
        let root = self.cfg.run_dir.parent().unwrap_or(Path::new("/"));
        self.cfg.run_dir.join("udev/control").exists()
            && ["etc", "run", "lib", "usr/lib"].iter().any(|d| {
                ["99-systemd.rules", "99-b8g-init.rules"]
                    .iter()
                    .any(|f| root.join(d).join("udev/rules.d").join(f).exists())
            })
    }

    /// A start job of a device unit.
    pub(super) fn device_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        if self.plugged.contains_key(&n) {
            self.set_state(&n, ActiveState::Active, "plugged");
            self.finish_job(&n, JobResult::Done);
            return;
        }
        if self.udev_running() && self.udev.is_some() {
            // Wait for udevd to announce it, at most the default start timeout, as
            // systemd's device jobs do.
            self.set_state(&n, ActiveState::Activating, "tentative");
            self.rt.entry(n).or_default().deadline =
                now().checked_add(self.cfg.default_timeout_start);
            return;
        }
        match self.check_conditions(u, true) {
            Ok(()) => {
                self.set_state(&n, ActiveState::Active, "plugged");
                self.finish_job(&n, JobResult::Done);
            }
            Err(m) => {
                self.rt.entry(n.clone()).or_default().result = Some(m);
                self.set_state(&n, ActiveState::Failed, "failed");
                self.finish_job(&n, JobResult::Failed);
            }
        }
    }

    /// Device jobs whose device did not come in time.
    pub(super) fn device_deadlines(&mut self, t: Instant) {
        let late: Vec<String> = self
            .rt
            .iter()
            .filter(|(n, rt)| {
                n.ends_with(".device")
                    && rt.st() == ActiveState::Activating
                    && rt.deadline.is_some_and(|d| d <= t)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in late {
            let rt = self.rt.entry(n.clone()).or_default();
            rt.deadline = None;
            rt.result = Some("timeout".into());
            self.logs.push(&n, "the device did not appear in time");
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
        }
    }

    pub(super) fn handle_udev(&mut self) {
        let Some(fd) = self.udev.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = vec![0u8; MAX_EVENT];
        for _ in 0..BATCH {
            let Some(d) = crate::sys::dgram::receive(fd, &mut buf) else {
                return;
            };
            // Only udevd (root) may send to this group; the kernel's own messages carry
            // pid 0 and are not libudev's.
            if d.sender.is_none_or(|c| c.uid != 0 || c.pid == 0) {
                continue;
            }
            let Some(e) = Event::parse(&buf[..d.len]) else {
                continue;
            };
            if e.for_systemd() {
                self.udev_event(&e);
            }
        }
    }

    fn udev_event(&mut self, e: &Event) {
        if let Some(old) = &e.devpath_old {
            self.device_gone(old);
        }
        if e.action == "remove" || e.not_ready {
            self.device_gone(&e.devpath);
            return;
        }
        let names = e.unit_names();
        // Names the device no longer has (a relabelled disk, a renamed interface) go.
        let before = self
            .device_names
            .insert(e.devpath.clone(), names.clone())
            .unwrap_or_default();
        for n in before.iter().filter(|n| !names.contains(n)) {
            self.release(n, &e.devpath);
        }
        for n in &names {
            self.claim(n, &e.devpath);
        }
        if e.action == "add" {
            for w in &e.wants {
                if crate::unit::name::validate(w).is_ok() {
                    self.logs.push(MANAGER, &format!("{}: wants {w}", names[0]));
                    if let Err(err) = self.start_unit(w, false) {
                        self.logs.push(w, &format!("cannot start: {err}"));
                    }
                }
            }
        }
    }

    /// A device went: the names it had (as udev announced them when it came, not as a
    /// remove event lists them) lose it.
    fn device_gone(&mut self, devpath: &str) {
        for n in self.device_names.remove(devpath).unwrap_or_default() {
            self.release(&n, devpath);
        }
    }

    fn claim(&mut self, n: &str, devpath: &str) {
        let holders = self.plugged.entry(n.to_string()).or_default();
        let first = holders.is_empty();
        holders.insert(devpath.to_string());
        if !first || !self.set.units.contains_key(n) {
            return;
        }
        if !self.state_of(n).is_active() {
            self.rt.entry(n.to_string()).or_default().deadline = None;
            self.set_state(n, ActiveState::Active, "plugged");
            if self.engine.has_job(n) {
                self.finish_job(n, JobResult::Done);
            }
        }
    }

    fn release(&mut self, n: &str, devpath: &str) {
        let Some(holders) = self.plugged.get_mut(n) else {
            return;
        };
        holders.remove(devpath);
        if !holders.is_empty() {
            return;
        }
        self.plugged.remove(n);
        if !self.state_of(n).is_active() {
            return;
        }
        self.logs.push(n, "the device is gone");
        self.set_state(n, ActiveState::Inactive, "dead");
        let bound: Vec<String> = self
            .set
            .units
            .values()
            .filter(|u| u.deps.binds_to.contains(n))
            .map(|u| u.name.clone())
            .filter(|b| self.state_of(b).is_active())
            .collect();
        for b in bound {
            self.logs
                .push(&b, &format!("stopping: bound to {n}, which is gone"));
            let _ = self.stop_unit(&b);
        }
    }
}
