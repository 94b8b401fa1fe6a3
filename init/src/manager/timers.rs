//! Timer units: when each elapses (monotonic `On*Sec=` and calendar `OnCalendar=`),
//! `RandomizedDelaySec=`, and `Persistent=` stamps that catch up on elapses missed
//! while the timer was inactive.

use super::*;
use jiff::Timestamp;

fn wall_now() -> Timestamp {
    Timestamp::now()
}

/// The monotonic instant of a wall-clock time (the clock's reading now as the link).
fn instant_of(ts: Timestamp) -> Option<Instant> {
    let t = now();
    let delta = ts.as_microsecond() - wall_now().as_microsecond();
    if delta >= 0 {
        t.checked_add(Duration::from_micros(delta as u64))
    } else {
        Some(
            t.checked_sub(Duration::from_micros(delta.unsigned_abs()))
                .unwrap_or(t),
        )
    }
}

impl Manager {
    /// The zone calendar timers are reckoned in: `<etc>/localtime` (re-read at
    /// daemon-reload), else UTC.
    pub(super) fn load_local_zone(&mut self) {
        let path = self.cfg.etc_dir.join("localtime");
        self.local_tz = match std::fs::read(&path) {
            Ok(data) => match jiff::tz::TimeZone::tzif("localtime", &data) {
                Ok(tz) => tz,
                Err(e) => {
                    self.say(&format!("{}: {e}; timers use UTC", path.display()));
                    jiff::tz::TimeZone::UTC
                }
            },
            Err(_) => jiff::tz::TimeZone::UTC,
        };
    }

    fn stamp_path(&self, n: &str) -> PathBuf {
        self.cfg
            .state_dir
            .join("systemd/timers")
            .join(format!("stamp-{n}"))
    }

    /// A delay in `0..max`: fixed per timer with FixedRandomDelay= (from the machine
    /// id and the unit's name), else new at every arming.
    fn random_delay(&self, n: &str, max: Duration, fixed: bool) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let r: u64 = if fixed {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::fs::read_to_string(self.cfg.etc_dir.join("machine-id"))
                .unwrap_or_default()
                .trim()
                .hash(&mut h);
            n.hash(&mut h);
            h.finish()
        } else {
            let mut b = [0u8; 8];
            // SAFETY: getrandom fills the buffer it is given.
            unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
            u64::from_ne_bytes(b)
        };
        Duration::from_micros(r % (max.as_micros() as u64).max(1))
    }

    /// The timer unit starts: calendar elapses are counted from now, or, with
    /// Persistent=, from its stamp (an elapse since then fires at once).
    pub(super) fn timer_start(&mut self, n: &str, c: &TimerConfig) {
        let stamp = if c.persistent && !c.on_calendar.is_empty() {
            std::fs::metadata(self.stamp_path(n))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| Timestamp::try_from(t).ok())
        } else {
            None
        };
        let delay = self.random_delay(n, c.randomized_delay, c.fixed_random_delay);
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.last_trigger = None;
        rt.timer_base = Some(stamp.unwrap_or_else(wall_now));
        rt.timer_delay = delay;
    }

    /// When the timer elapses next (its random delay included).
    pub(super) fn timer_next(&self, n: &str) -> Option<Instant> {
        let u = self.set.units.get(n)?;
        let KindConfig::Timer(c) = &u.config else {
            return None;
        };
        let rt = self.rt.get(n)?;
        // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
        // jobs and runtime are kept under the unit's own name.
        let target = self
            .set
            .resolve(&load::triggered_unit(u, c.unit.as_deref()))
            .to_string();
        let trt = self.rt.get(&target);
        let last = rt.last_trigger;
        let mut cands: Vec<Instant> = Vec::new();
        for d in &c.on_boot {
            cands.extend(self.start.checked_add(*d));
        }
        if let Some(a) = rt.activated {
            for d in &c.on_active {
                cands.extend(a.checked_add(*d));
            }
        }
        if let Some(ls) = trt.and_then(|r| r.last_start) {
            for d in &c.on_unit_active {
                cands.extend(ls.checked_add(*d));
            }
        }
        if let Some(li) = trt.and_then(|r| r.inactive_since) {
            for d in &c.on_unit_inactive {
                cands.extend(li.checked_add(*d));
            }
        }
        // Monotonic elapses that already fired count no more.
        cands.retain(|i| last.is_none_or(|l| *i > l));
        if let Some(base) = rt.timer_base {
            for cal in &c.on_calendar {
                if let Some(next) = cal.next_after(base, &self.local_tz) {
                    cands.extend(instant_of(next));
                }
            }
        }
        cands
            .into_iter()
            .min()
            .and_then(|i| i.checked_add(rt.timer_delay))
    }

    /// The timer fell due: start its unit, stamp it, and arm it again.
    pub(super) fn timer_elapsed(&mut self, n: &str, next: Instant) {
        let Some(u) = self.set.units.get(n) else {
            return;
        };
        let KindConfig::Timer(c) = &u.config else {
            return;
        };
        let c = c.clone();
        let target = self
            .set
            .resolve(&load::triggered_unit(u, c.unit.as_deref()))
            .to_string();
        let delay = self.random_delay(n, c.randomized_delay, c.fixed_random_delay);
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.last_trigger = Some(now().max(next));
        rt.timer_base = Some(wall_now());
        rt.timer_delay = delay;
        if c.persistent && !c.on_calendar.is_empty() {
            let p = self.stamp_path(n);
            let touched = p
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::File::create(&p))
                .and_then(|f| f.set_modified(SystemTime::now()));
            if let Err(e) = touched {
                self.logs
                    .push(n, &format!("cannot write {}: {e}", p.display()));
            }
        }
        self.logs.push(n, &format!("elapsed; starting {target}"));
        if let Err(e) = self.start_unit(&target, false) {
            self.logs.push(n, &format!("cannot start {target}: {e}"));
        }
    }
}
