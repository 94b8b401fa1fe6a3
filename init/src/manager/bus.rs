//! The system bus in the event loop ([`crate::bus`]): connecting once the bus daemon
//! runs, Type=dbus readiness by `BusName=`, and bus activation.

use super::*;
use crate::bus::{Bus, Event};

/// The units that run the system bus (dbus-daemon, or dbus-broker).
const BUS_SERVICES: &[&str] = &["dbus.service", "dbus-broker.service"];
/// How often a failed connection is tried again while the bus daemon runs.
const RETRY: Duration = Duration::from_secs(1);

impl Manager {
    fn bus_daemon_active(&self) -> bool {
        BUS_SERVICES
            .iter()
            .any(|n| self.state_of(self.set.resolve(n)) == ActiveState::Active)
    }

    /// Connects when the bus daemon runs and there is no connection yet, as systemd
    /// does once dbus.service is up.
    pub(super) fn bus_maybe_connect(&mut self) {
        if self.bus.is_some() || self.shutdown.is_some() || !self.bus_daemon_active() {
            return;
        }
        if self.bus_tried.is_some_and(|t| t.elapsed() < RETRY) {
            return;
        }
        self.bus_tried = Some(now());
        let path = crate::bus::system_bus_path(&self.cfg.run_dir);
        if !path.exists() {
            return;
        }
        match Bus::connect(&path) {
            Ok(b) => {
                self.bus = Some(b);
                self.logs.push(MANAGER, "connected to the system bus");
                let waiting: Vec<String> = self
                    .set
                    .units
                    .values()
                    .filter(|u| self.state_of(&u.name) != ActiveState::Inactive)
                    .filter_map(|u| u.service())
                    .filter(|s| s.service_type == ServiceType::Dbus)
                    .filter_map(|s| s.bus_name.clone())
                    .collect();
                for name in waiting {
                    self.bus_watch(&name);
                }
            }
            Err(e) => {
                self.logs.push(MANAGER, &format!("D-Bus: {e}"));
            }
        }
    }

    /// When to try connecting again (for the loop's timeout).
    pub(super) fn bus_retry_at(&self) -> Option<Instant> {
        (self.bus.is_none() && self.shutdown.is_none() && self.bus_daemon_active())
            .then(|| self.bus_tried.map_or_else(now, |t| t + RETRY))
    }

    /// Follows `name`'s owner (a Type=dbus service started); its current owner comes
    /// back as an event, never from within this call (the caller is mid-transition).
    pub(super) fn bus_watch(&mut self, name: &str) {
        let Some(b) = self.bus.as_mut() else {
            return;
        };
        if let Err(e) = b.watch_name(name) {
            self.bus_lost(&e.to_string());
        }
    }

    pub(super) fn bus_poll_events(&self) -> Option<(RawFd, i16)> {
        self.bus.as_ref().map(|b| {
            let out = if b.wants_write() { libc::POLLOUT } else { 0 };
            (b.fd(), libc::POLLIN | out)
        })
    }

    pub(super) fn handle_bus(&mut self, revents: i16) {
        let Some(b) = self.bus.as_mut() else {
            return;
        };
        let mut r = if revents & libc::POLLOUT != 0 {
            b.flush().map(|_| Vec::new())
        } else {
            Ok(Vec::new())
        };
        if r.is_ok() && revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            r = b.on_readable();
        }
        match r {
            Ok(events) => {
                for e in events {
                    self.bus_event(e);
                }
            }
            Err(e) => self.bus_lost(&e.to_string()),
        }
    }

    fn bus_lost(&mut self, why: &str) {
        self.bus = None;
        let quiet = self.shutdown.is_some() || !self.bus_daemon_active();
        let line = format!("D-Bus: the connection ended: {why}");
        if quiet {
            self.logs.push(MANAGER, &line);
        } else {
            self.say(&line);
        }
    }

    fn bus_event(&mut self, e: Event) {
        match e {
            Event::Note(n) => self.say(&n),
            Event::NameOwner { name, owner } => {
                let units: Vec<String> = self
                    .set
                    .units
                    .values()
                    .filter(|u| {
                        u.service().is_some_and(|s| {
                            s.service_type == ServiceType::Dbus
                                && s.bus_name.as_deref() == Some(name.as_str())
                        })
                    })
                    .map(|u| u.name.clone())
                    .collect();
                for n in units {
                    let phase = self.rt.get(&n).map(Rt::ph).unwrap_or(Phase::Idle);
                    match (&owner, phase) {
                        (Some(o), Phase::Start) => {
                            self.logs.push(&n, &format!("bus name {name} owned by {o}"));
                            self.became_ready(&n);
                        }
                        // systemd.service(5): a Type=dbus service that gives up its name
                        // is stopped.
                        (None, Phase::Running) => {
                            self.logs
                                .push(&n, &format!("bus name {name} released; stopping"));
                            let _ = self.stop_unit(&n);
                        }
                        _ => {}
                    }
                }
            }
            Event::ActivationRequest { unit } => self.bus_activate(&unit),
        }
    }

    /// The bus daemon asks for `unit` (a service's `SystemdService=`): start it, or say
    /// at once why not (systemd's signal_activation_request).
    fn bus_activate(&mut self, unit: &str) {
        if self.shutdown.is_some() {
            self.bus_activation_failed(
                unit,
                "org.freedesktop.systemd1.ShuttingDown",
                "Refusing activation, the system is shutting down.",
            );
            return;
        }
        if crate::unit::name::validate(unit).is_err() {
            self.bus_activation_failed(
                unit,
                "org.freedesktop.DBus.Error.InvalidArgs",
                &format!("Unit name {unit} is not valid."),
            );
            return;
        }
        self.ensure_loaded(unit);
        let load_error = self
            .set
            .get(unit)
            .map_or(Some("unit not found".to_string()), |u| u.load_error.clone());
        match load_error.as_deref() {
            Some("unit not found") => {
                return self.bus_activation_failed(
                    unit,
                    "org.freedesktop.systemd1.NoSuchUnit",
                    &format!("Unit {unit} not found."),
                )
            }
            Some(crate::unit::load::MASKED) => {
                return self.bus_activation_failed(
                    unit,
                    "org.freedesktop.systemd1.UnitMasked",
                    &format!("Unit {unit} is masked."),
                )
            }
            Some(e) => {
                return self.bus_activation_failed(
                    unit,
                    "org.freedesktop.systemd1.LoadFailed",
                    &format!("Unit {unit} failed to load: {e}"),
                )
            }
            None => {}
        }

        match self.start_unit(unit, false) {
            Ok(()) => {
                let canon = self.set.resolve(unit).to_string();
                self.bus_activations.insert(canon);
            }
            Err(e) => self.bus_activation_failed(unit, "org.freedesktop.systemd1.JobFailed", &e),
        }
    }

    fn bus_activation_failed(&mut self, unit: &str, error: &str, message: &str) {
        // Any bus client can ask for activations that fail: the log takes a few a
        // minute, the daemon hears of every one.
        let t = now();
        while self
            .bus_failures_logged
            .front()
            .is_some_and(|f| t.duration_since(*f) > Duration::from_secs(60))
        {
            self.bus_failures_logged.pop_front();
        }
        if self.bus_failures_logged.len() < 20 {
            self.bus_failures_logged.push_back(t);
            self.logs.push(
                MANAGER,
                &format!("bus activation of {unit} failed: {message}"),
            );
        }
        if let Some(b) = self.bus.as_mut() {
            if let Err(e) = b.activation_failure(unit, error, message) {
                self.bus_lost(&e.to_string());
            }
        }
    }

    /// Bus-activated units whose start job ended: a failed one is reported, so that the
    /// client waiting on the daemon hears now.
    pub(super) fn bus_check_activations(&mut self) {
        if self.bus_activations.is_empty() {
            return;
        }
        let done: Vec<String> = self
            .bus_activations
            .iter()
            .filter(|n| !self.engine.has_job(n))
            .cloned()
            .collect();
        for n in done {
            self.bus_activations.remove(&n);
            if !self.state_of(&n).is_active() {
                let result = self
                    .rt
                    .get(&n)
                    .and_then(|r| r.result.clone())
                    .unwrap_or_else(|| "failed".into());
                self.bus_activation_failed(
                    &n,
                    "org.freedesktop.systemd1.UnitFailed",
                    &format!("Unit {n} failed to start ({result})."),
                );
            }
        }
    }
}
