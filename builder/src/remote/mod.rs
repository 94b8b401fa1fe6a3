//! Remote builds over Nix's `nix-store --serve` protocol: the machines
//! (Nix's machines format), SSH sessions to them, and the slots that share
//! builds between the local machine and the remotes. The build itself (copy
//! the inputs, build, copy the outputs back and check them) is
//! `realise`'s business, since it works on its derivation nodes.
//!
//! Scheduling follows Nix's build hook: a derivation goes to the accepting
//! machine with a free slot and the lowest load per speed factor; when none
//! has a free slot it builds locally if a local slot (`-j`) is free,
//! otherwise it waits. `preferLocalBuild` derivations take a local slot
//! first. A machine whose session fails (it died, the network went) is set
//! aside for the rest of the run and the build is tried elsewhere.

pub mod machines;
pub mod session;
pub mod watchdog;

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub use machines::{parse_machines, Machine, MachinesError};
pub use session::{Session, SessionError};

use crate::sandbox::CancelToken;

/// Where a build may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// On this machine.
    Local,
    /// On the machine with this index.
    Remote(usize),
}

/// Why no slot can be had.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// No machine (working, for this system and features) and no local build.
    #[error(
        "no builder can build for system {system}{}{}{}{}",
        features_note(features),
        machines_note(machines),
        down_note(down),
        if *local_slots == 0 { "; -j0 builds nothing here (as in Nix: increase -j or add --builders)" } else { "" }
    )]
    NoMachine {
        /// The derivation's system.
        system: String,
        /// Its required features.
        features: BTreeSet<String>,
        /// Each machine with what it offers, as Nix lists them.
        machines: Vec<String>,
        /// Machines set aside, with why.
        down: Vec<String>,
        /// Local slots (`-j`).
        local_slots: usize,
    },
    /// The run was cancelled while waiting.
    #[error("cancelled while waiting for a build slot")]
    Cancelled,
}

fn features_note(f: &BTreeSet<String>) -> String {
    if f.is_empty() {
        String::new()
    } else {
        format!(
            " with features {}",
            f.iter().cloned().collect::<Vec<_>>().join(",")
        )
    }
}

fn machines_note(machines: &[String]) -> String {
    if machines.is_empty() {
        String::new()
    } else {
        format!("; machines: {}", machines.join("; "))
    }
}

fn down_note(down: &[String]) -> String {
    if down.is_empty() {
        String::new()
    } else {
        format!(" (set aside: {})", down.join("; "))
    }
}

struct State {
    local_total: usize,
    local_free: usize,
    free: Vec<usize>,
    /// Why a machine was set aside.
    down: Vec<Option<String>>,
}

/// The machines of a run, their idle sessions and the slots in use.
pub struct Builders {
    machines: Vec<Machine>,
    state: Mutex<State>,
    changed: Condvar,
    idle: Vec<Mutex<Vec<Session>>>,
    /// Known-hosts files of pinned host keys.
    scratch: tempfile::TempDir,
}

impl Drop for Builders {
    fn drop(&mut self) {
        for idle in &self.idle {
            idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        for (i, m) in self.machines.iter().enumerate() {
            session::close_master(m, i, self.scratch.path());
        }
    }
}

/// How often a waiting job checks for cancellation.
const WAIT_POLL: Duration = Duration::from_millis(50);

impl Builders {
    /// The machines, and `local_jobs` local slots.
    pub fn new(machines: Vec<Machine>, local_jobs: usize) -> std::io::Result<Builders> {
        let n = machines.len();
        Ok(Builders {
            state: Mutex::new(State {
                local_total: local_jobs,
                local_free: local_jobs,
                free: machines.iter().map(|m| m.max_jobs).collect(),
                down: vec![None; n],
            }),
            changed: Condvar::new(),
            idle: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            machines,
            scratch: tempfile::Builder::new().prefix("b8g-builders").tempdir()?,
        })
    }

    /// The machines.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Builds at once over all machines and the local slots.
    pub fn total_slots(&self) -> usize {
        let s = self.lock();
        s.local_total + self.machines.iter().map(|m| m.max_jobs).sum::<usize>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot for a derivation of `system` requiring `features`.
    /// `local_ok`: this machine can build it; `prefer_local`: it asks to.
    pub fn acquire(
        &self,
        system: &str,
        features: &BTreeSet<String>,
        local_ok: bool,
        prefer_local: bool,
        cancel: &CancelToken,
    ) -> Result<Slot, SlotError> {
        let mut s = self.lock();
        loop {
            if cancel.is_cancelled() {
                return Err(SlotError::Cancelled);
            }
            let accepting: Vec<usize> = (0..self.machines.len())
                .filter(|&i| {
                    // A machine of max-jobs 0 takes nothing (a slot would never come).
                    s.down[i].is_none()
                        && self.machines[i].max_jobs > 0
                        && self.machines[i].accepts(system, features)
                })
                .collect();
            if prefer_local && local_ok && s.local_free > 0 {
                s.local_free -= 1;
                return Ok(Slot::Local);
            }
            // The lowest load per speed factor among machines with a free slot.
            let best = accepting
                .iter()
                .copied()
                .filter(|&i| s.free[i] > 0)
                .min_by(|&a, &b| {
                    let load = |i: usize| {
                        (self.machines[i].max_jobs - s.free[i]) as f64
                            / self.machines[i].speed_factor
                    };
                    load(a).total_cmp(&load(b))
                });
            if let Some(i) = best {
                s.free[i] -= 1;
                return Ok(Slot::Remote(i));
            }
            if local_ok && s.local_free > 0 {
                s.local_free -= 1;
                return Ok(Slot::Local);
            }
            let local_possible = local_ok && s.local_total > 0;
            if accepting.is_empty() && !local_possible {
                return Err(SlotError::NoMachine {
                    system: system.to_owned(),
                    features: features.clone(),
                    machines: self.machines.iter().map(Machine::describe).collect(),
                    local_slots: s.local_total,
                    down: s
                        .down
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| {
                            d.as_ref()
                                .map(|why| format!("{}: {why}", self.machines[i].uri))
                        })
                        .collect(),
                });
            }
            s = self
                .changed
                .wait_timeout(s, WAIT_POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives a slot back.
    pub fn release(&self, slot: Slot) {
        let mut s = self.lock();
        match slot {
            Slot::Local => s.local_free += 1,
            Slot::Remote(i) => s.free[i] += 1,
        }
        drop(s);
        self.changed.notify_all();
    }

    /// Sets machine `i` aside for the rest of the run, and drops its idle sessions.
    pub fn set_down(&self, i: usize, why: String) {
        self.lock().down[i].get_or_insert(why);
        self.idle[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.changed.notify_all();
    }

    /// An idle session with machine `i`, or a new one.
    /// The login and greeting may take `connect_limit` at most, and end
    /// when `cancel` does.
    pub fn session(
        &self,
        i: usize,
        connect_limit: Duration,
        cancel: &CancelToken,
    ) -> Result<Session, SessionError> {
        if let Some(s) = self.idle[i].lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(s);
        }
        Session::open(
            &self.machines[i],
            i,
            self.scratch.path(),
            connect_limit,
            cancel,
        )
    }

    /// Keeps a session that ended its last command cleanly, for reuse.
    pub fn put_back(&self, i: usize, session: Session) {
        session.watchdog.disarm();
        // Killed at the last moment (a limit passed during the final import):
        // not reusable.
        if session.watchdog.fired().is_some() {
            return;
        }
        if self.lock().down[i].is_none() {
            self.idle[i]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(session);
        }
    }
}
