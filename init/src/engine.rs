//! The job engine shared by unit files and SysV scripts: it turns "start X" or
//! "stop X" into a transaction of jobs over the dependency graph, breaks ordering
//! cycles (at a unit that was only wanted, as systemd does), and says which jobs may
//! run now. It is pure bookkeeping: it never forks, so its decisions are deterministic
//! (ready jobs come out in name order) and unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use crate::unit::load::UnitSet;

/// The state of a unit as the supervisor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActiveState {
    Inactive,
    Activating,
    Active,
    Reloading,
    Deactivating,
    Failed,
}

impl ActiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveState::Inactive => "inactive",
            ActiveState::Activating => "activating",
            ActiveState::Active => "active",
            ActiveState::Reloading => "reloading",
            ActiveState::Deactivating => "deactivating",
            ActiveState::Failed => "failed",
        }
    }
    pub fn is_active(self) -> bool {
        matches!(self, ActiveState::Active | ActiveState::Reloading)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Start,
    Stop,
    Restart,
    Reload,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Job {
    pub unit: String,
    pub kind: JobKind,
    /// Pulled in through Requires=/BindsTo= from the anchor (or the anchor itself);
    /// jobs that were only wanted may be dropped to break a cycle.
    pub required: bool,
    pub running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobResult {
    Done,
    Failed,
    Dependency,
    Skipped,
    Canceled,
}

/// A transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("unit {0} not found")]
    NotFound(String),
    /// systemd's wording, which scripts and administrators recognise.
    #[error("Unit {0} is masked.")]
    Masked(String),
    #[error("unit {unit} failed to load: {reason}")]
    NotLoaded { unit: String, reason: String },
    #[error("transaction for {0} has conflicting required jobs: {1}")]
    Conflict(String, String),
}

impl EngineError {
    fn not_loaded(unit: String, reason: &str) -> EngineError {
        if reason == crate::unit::load::MASKED {
            EngineError::Masked(unit)
        } else {
            EngineError::NotLoaded {
                unit,
                reason: reason.to_string(),
            }
        }
    }
}

/// Jobs and the ordering graph derived from a unit set.
#[derive(Debug, Default)]
pub struct Engine {
    pub jobs: BTreeMap<String, Job>,
    /// u → units u is ordered after (After= of u plus Before= pointing at u).
    after: BTreeMap<String, crate::unit::NameSet>,
    /// u → units that are ordered after u.
    before: BTreeMap<String, crate::unit::NameSet>,
    /// Messages about transactions (cycles broken, jobs dropped), drained by the supervisor.
    pub messages: Vec<String>,
    /// Finished jobs, drained by the supervisor.
    pub finished: Vec<(String, JobKind, JobResult)>,
    /// Ordering edges (later, earlier) dropped to break a cycle of required jobs; they
    /// apply until the job queue drains.
    ignored: BTreeSet<(String, String)>,
}

impl Engine {
    pub fn new(set: &UnitSet) -> Engine {
        let mut e = Engine::default();
        e.rebuild(set);
        e
    }

    /// Recomputes the ordering graph (after a reload); pending jobs are kept.
    pub fn rebuild(&mut self, set: &UnitSet) {
        self.after.clear();
        self.before.clear();
        for u in set.units.values() {
            for a in &u.deps.after {
                self.add_order(&u.name, a);
            }
            for b in &u.deps.before {
                self.add_order(b, &u.name);
            }
        }
    }

    fn add_order(&mut self, later: &str, earlier: &str) {
        if later == earlier {
            return;
        }
        self.after
            .entry(later.to_string())
            .or_default()
            .insert(earlier.to_string());
        self.before
            .entry(earlier.to_string())
            .or_default()
            .insert(later.to_string());
    }

    pub fn ordered_after(&self, u: &str) -> impl Iterator<Item = &String> {
        self.after.get(u).into_iter().flatten()
    }

    /// Queues starting `anchor` and what it pulls in. With `isolate`, every active unit
    /// outside that closure is stopped. Returns the number of jobs added.
    pub fn start(
        &mut self,
        set: &UnitSet,
        anchor: &str,
        isolate: bool,
        state: &dyn Fn(&str) -> ActiveState,
    ) -> Result<usize, EngineError> {
        let anchor = set.resolve(anchor).to_string();
        let unit = set
            .units
            .get(&anchor)
            .ok_or_else(|| EngineError::NotFound(anchor.clone()))?;
        if let Some(r) = &unit.load_error {
            return Err(EngineError::not_loaded(anchor, r));
        }
        // Closure over Requires/BindsTo (required) and Wants (not required).
        let mut pulled: BTreeMap<String, bool> = BTreeMap::new();
        let mut stack = vec![(anchor.clone(), true)];
        while let Some((n, req)) = stack.pop() {
            match pulled.get(&n) {
                Some(true) => continue,
                Some(false) if !req => continue,
                _ => {}
            }
            pulled.insert(n.clone(), req);
            // An active unit's own dependencies are already satisfied (or were stopped
            // on purpose): do not drag them back in.
            if n != anchor && state(&n).is_active() {
                continue;
            }
            let Some(u) = set.units.get(&n) else { continue };
            for r in u.deps.requires.iter().chain(&u.deps.binds_to) {
                stack.push((r.clone(), req));
            }
            for w in &u.deps.wants {
                stack.push((w.clone(), false));
            }
        }
        // Units that failed to load: a required one fails the transaction, a wanted one is dropped.
        for (n, req) in pulled.clone() {
            if let Some(reason) = set.units.get(&n).and_then(|u| u.load_error.clone()) {
                if req && n == anchor {
                    return Err(EngineError::not_loaded(n, &reason));
                }
                pulled.remove(&n);
                if !req {
                    continue;
                }
                self.messages.push(format!(
                    "{n} is required but failed to load ({reason}); units requiring it will fail"
                ));
            }
        }
        // Conflicts in both directions.
        let mut stops: BTreeSet<String> = BTreeSet::new();
        for n in pulled.keys() {
            let Some(u) = set.units.get(n) else { continue };
            let mut conf = u.deps.conflicts.clone();
            conf.extend(
                set.units
                    .values()
                    .filter(|o| o.deps.conflicts.contains(n))
                    .map(|o| o.name.clone()),
            );
            for c in conf {
                match pulled.get(&c) {
                    Some(true) if pulled.get(n) == Some(&true) => {
                        return Err(EngineError::Conflict(
                            anchor.clone(),
                            format!("{n} conflicts with {c}"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        stops.insert(c);
                    }
                }
            }
        }
        let mut drop_conflicting = Vec::new();
        for n in pulled.keys() {
            if let Some(u) = set.units.get(n) {
                for c in &u.deps.conflicts {
                    if pulled.contains_key(c) {
                        // Both wanted: keep the required one (or the first by name).
                        let victim = if pulled[n] { c.clone() } else { n.clone() };
                        drop_conflicting.push(victim);
                    }
                }
            }
        }
        for v in drop_conflicting {
            if pulled.remove(&v).is_some() {
                self.messages.push(format!(
                    "dropping start of {v}: it conflicts with another unit in the transaction"
                ));
            }
        }
        if isolate {
            for u in set.units.values() {
                if !pulled.contains_key(&u.name)
                    && !u.ignore_on_isolate
                    && state(&u.name) != ActiveState::Inactive
                {
                    stops.insert(u.name.clone());
                }
            }
        }
        let mut added = 0;
        for s in stops {
            added += self.stop_closure(set, &s, state);
        }
        for (n, req) in &pulled {
            let existing = self.jobs.get(n).map(|j| j.kind);
            match existing {
                Some(JobKind::Start) | Some(JobKind::Restart) => {
                    if *req {
                        if let Some(j) = self.jobs.get_mut(n) {
                            j.required = true;
                        }
                    }
                }
                _ => {
                    if existing.is_none() && state(n).is_active() {
                        continue;
                    }
                    self.jobs.insert(
                        n.clone(),
                        Job {
                            unit: n.clone(),
                            kind: JobKind::Start,
                            required: *req,
                            running: false,
                        },
                    );
                    added += 1;
                }
            }
        }
        self.break_cycles(&anchor);
        Ok(added)
    }

    /// Queues stopping `unit` and the units that need it (Requires=, BindsTo=, PartOf=).
    pub fn stop(
        &mut self,
        set: &UnitSet,
        unit: &str,
        state: &dyn Fn(&str) -> ActiveState,
    ) -> Result<usize, EngineError> {
        let unit = set.resolve(unit).to_string();
        if !set.units.contains_key(&unit) {
            return Err(EngineError::NotFound(unit));
        }
        Ok(self.stop_closure(set, &unit, state))
    }

    fn stop_closure(
        &mut self,
        set: &UnitSet,
        unit: &str,
        state: &dyn Fn(&str) -> ActiveState,
    ) -> usize {
        let mut added = 0;
        let mut stack = vec![unit.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            let has_start = matches!(self.jobs.get(&n), Some(j) if j.kind != JobKind::Stop);
            if n != unit && state(&n) == ActiveState::Inactive && !has_start {
                continue;
            }
            if self.jobs.get(&n).map(|j| j.kind) != Some(JobKind::Stop) {
                self.jobs.insert(
                    n.clone(),
                    Job {
                        unit: n.clone(),
                        kind: JobKind::Stop,
                        required: true,
                        running: false,
                    },
                );
                added += 1;
            }
            for u in set.units.values() {
                if u.deps.requires.contains(&n)
                    || u.deps.binds_to.contains(&n)
                    || u.deps.part_of.contains(&n)
                {
                    stack.push(u.name.clone());
                }
            }
        }
        added
    }

    /// Queues a restart (stop, then start) of `unit` and its PartOf= dependents, or a reload.
    pub fn restart_or_reload(
        &mut self,
        set: &UnitSet,
        unit: &str,
        kind: JobKind,
    ) -> Result<(), EngineError> {
        let unit = set.resolve(unit).to_string();
        let u = set
            .units
            .get(&unit)
            .ok_or_else(|| EngineError::NotFound(unit.clone()))?;
        if let Some(r) = &u.load_error {
            return Err(EngineError::not_loaded(unit, r));
        }
        let mut names = vec![unit.clone()];
        if kind == JobKind::Restart {
            names.extend(
                set.units
                    .values()
                    .filter(|o| o.deps.part_of.contains(&unit))
                    .map(|o| o.name.clone()),
            );
        }
        for n in names {
            self.jobs.insert(
                n.clone(),
                Job {
                    unit: n,
                    kind,
                    required: true,
                    running: false,
                },
            );
        }
        Ok(())
    }

    /// Finds ordering cycles among queued jobs and breaks each one, preferring to delete
    /// the job of a unit that was only wanted.
    fn break_cycles(&mut self, anchor: &str) {
        let mut ignored_edges = std::mem::take(&mut self.ignored);
        loop {
            let Some(cycle) = self.find_cycle(&ignored_edges) else {
                self.ignored = ignored_edges;
                return;
            };
            let path = cycle.join(" → ");
            let victim = cycle
                .iter()
                .filter(|n| n.as_str() != anchor)
                .find(|n| self.jobs.get(*n).is_some_and(|j| !j.required && !j.running))
                .cloned();
            match victim {
                Some(v) => {
                    self.messages.push(format!("ordering cycle found: {path}; deleting the start job of {v}, which was only wanted"));
                    self.jobs.remove(&v);
                }
                None => {
                    let (a, b) = (cycle[0].clone(), cycle[1].clone());
                    self.messages.push(format!("ordering cycle found: {path}; all jobs are required, ignoring the ordering of {a} after {b}"));
                    ignored_edges.insert((a, b));
                }
            }
        }
    }

    /// A cycle in the "must wait for" graph of queued jobs, as a closed path in name order.
    fn find_cycle(&self, ignored: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Grey,
            Black,
        }
        let mut color: BTreeMap<&str, Color> = self
            .jobs
            .keys()
            .map(|k| (k.as_str(), Color::White))
            .collect();
        for start in self.jobs.keys() {
            if color[start.as_str()] != Color::White {
                continue;
            }
            // Iterative DFS keeping the current path.
            let mut path: Vec<(&str, Vec<&str>)> =
                vec![(start.as_str(), self.waits_for(start, ignored))];
            color.insert(start.as_str(), Color::Grey);
            while let Some((node, next)) = path.last_mut() {
                let node = *node;
                match next.pop() {
                    Some(n) => match color.get(n).copied() {
                        Some(Color::White) => {
                            color.insert(n, Color::Grey);
                            let succ = self.waits_for(n, ignored);
                            path.push((n, succ));
                        }
                        Some(Color::Grey) => {
                            let idx = path.iter().position(|(p, _)| *p == n).unwrap_or(0);
                            let mut cyc: Vec<String> =
                                path[idx..].iter().map(|(p, _)| p.to_string()).collect();
                            cyc.push(n.to_string());
                            return Some(cyc);
                        }
                        _ => {}
                    },
                    None => {
                        color.insert(node, Color::Black);
                        path.pop();
                    }
                }
            }
        }
        None
    }

    /// Jobs that the job of `u` must wait for, by ordering, in reverse name order (the
    /// DFS pops from the end, so it visits in name order).
    fn waits_for<'a>(&'a self, u: &str, ignored: &BTreeSet<(String, String)>) -> Vec<&'a str> {
        let Some(job) = self.jobs.get(u) else {
            return vec![];
        };
        let src = if job.kind == JobKind::Stop {
            &self.before
        } else {
            &self.after
        };
        let mut v: Vec<&str> = src
            .get(u)
            .into_iter()
            .flatten()
            .filter(|o| {
                self.jobs
                    .get(*o)
                    .is_some_and(|oj| (oj.kind == JobKind::Stop) == (job.kind == JobKind::Stop))
            })
            .filter(|o| !ignored.contains(&(u.to_string(), o.to_string())))
            .map(String::as_str)
            .collect();
        v.reverse();
        v
    }

    /// Jobs that may run now, in name order; they are marked running.
    pub fn runnable(&mut self) -> Vec<(String, JobKind)> {
        let mut ready = Vec::new();
        for (n, job) in &self.jobs {
            if job.running {
                continue;
            }
            let blocked = match job.kind {
                // Stops go in reverse order: wait for units ordered after this one.
                JobKind::Stop => self
                    .before
                    .get(n)
                    .into_iter()
                    .flatten()
                    .any(|o| self.jobs.get(o).is_some_and(|j| j.kind == JobKind::Stop)),
                // Starts wait for every job of a unit they are ordered after, and for
                // stops of units ordered after them (stopping goes first).
                _ => {
                    self.after.get(n).into_iter().flatten().any(|o| {
                        self.jobs.contains_key(o) && !self.ignored.contains(&(n.clone(), o.clone()))
                    }) || self
                        .before
                        .get(n)
                        .into_iter()
                        .flatten()
                        .any(|o| self.jobs.get(o).is_some_and(|j| j.kind == JobKind::Stop))
                }
            };
            if !blocked {
                ready.push((n.clone(), job.kind));
            }
        }
        for (n, _) in &ready {
            if let Some(j) = self.jobs.get_mut(n) {
                j.running = true;
            }
        }
        ready
    }

    /// Records the end of the job of `unit`. A failed start fails the queued starts of
    /// units that require it.
    pub fn finish(&mut self, set: &UnitSet, unit: &str, result: JobResult) {
        let Some(job) = self.jobs.remove(unit) else {
            return;
        };
        if self.jobs.is_empty() {
            self.ignored.clear();
        }
        self.finished.push((unit.to_string(), job.kind, result));
        if job.kind == JobKind::Stop || matches!(result, JobResult::Done | JobResult::Skipped) {
            return;
        }
        let dependents: Vec<String> = set
            .units
            .values()
            .filter(|u| {
                u.deps.requires.contains(unit)
                    || u.deps.binds_to.contains(unit)
                    || u.deps.requisite.contains(unit)
            })
            .map(|u| u.name.clone())
            .collect();
        for d in dependents {
            if self
                .jobs
                .get(&d)
                .is_some_and(|j| j.kind == JobKind::Start && !j.running)
            {
                self.messages.push(format!("{d}: dependency {unit} failed"));
                self.finish(set, &d, JobResult::Dependency);
            }
        }
    }

    pub fn has_job(&self, unit: &str) -> bool {
        self.jobs.contains_key(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Unit;

    fn set(specs: &[(&str, &str, &str, &str)]) -> UnitSet {
        // (name, requires, wants, after)
        let mut s = UnitSet::default();
        for (n, r, w, a) in specs {
            let mut u = Unit::empty(n);
            u.deps.requires = r.split_whitespace().map(str::to_string).collect();
            u.deps.wants = w.split_whitespace().map(str::to_string).collect();
            u.deps.after = a.split_whitespace().map(str::to_string).collect();
            s.units.insert(n.to_string(), u);
        }
        s
    }

    fn run_all(e: &mut Engine, s: &UnitSet, fail: &[&str]) -> Vec<Vec<String>> {
        let mut waves = Vec::new();
        loop {
            let r = e.runnable();
            if r.is_empty() {
                break;
            }
            for (n, _) in &r {
                let res = if fail.contains(&n.as_str()) {
                    JobResult::Failed
                } else {
                    JobResult::Done
                };
                e.finish(s, n, res);
            }
            waves.push(r.into_iter().map(|x| x.0).collect());
        }
        waves
    }

    #[test]
    fn parallel_waves_follow_ordering() {
        let s = set(&[
            (
                "a.target",
                "b.service",
                "c.service d.service",
                "b.service c.service d.service",
            ),
            ("b.service", "", "", "c.service"),
            ("c.service", "", "", ""),
            ("d.service", "", "", ""),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "a.target", false, &|_| ActiveState::Inactive)
            .unwrap();
        let waves = run_all(&mut e, &s, &[]);
        assert_eq!(
            waves,
            vec![
                vec!["c.service", "d.service"],
                vec!["b.service"],
                vec!["a.target"]
            ]
        );
    }

    #[test]
    fn required_failure_propagates_but_wanted_does_not() {
        let s = set(&[
            ("a.target", "b.service", "c.service", "b.service c.service"),
            ("b.service", "", "", ""),
            ("c.service", "", "", ""),
            ("x.service", "b.service", "", "b.service"),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "a.target", false, &|_| ActiveState::Inactive)
            .unwrap();
        e.start(&s, "x.service", false, &|_| ActiveState::Inactive)
            .unwrap();
        run_all(&mut e, &s, &["b.service", "c.service"]);
        let res: BTreeMap<_, _> = e
            .finished
            .iter()
            .map(|(n, _, r)| (n.as_str(), *r))
            .collect();
        assert_eq!(res["a.target"], JobResult::Dependency);
        assert_eq!(res["x.service"], JobResult::Dependency);
        let s2 = set(&[
            ("a.target", "", "c.service", "c.service"),
            ("c.service", "", "", ""),
        ]);
        let mut e = Engine::new(&s2);
        e.start(&s2, "a.target", false, &|_| ActiveState::Inactive)
            .unwrap();
        run_all(&mut e, &s2, &["c.service"]);
        assert!(e
            .finished
            .contains(&("a.target".into(), JobKind::Start, JobResult::Done)));
    }

    #[test]
    fn cycle_is_broken_at_a_wanted_unit() {
        let s = set(&[
            ("t.target", "a.service", "b.service", "a.service b.service"),
            ("a.service", "", "", "b.service"),
            ("b.service", "", "", "a.service"),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "t.target", false, &|_| ActiveState::Inactive)
            .unwrap();
        assert!(
            e.messages.iter().any(|m| m.contains("ordering cycle")
                && m.contains("deleting the start job of b.service")),
            "{:?}",
            e.messages
        );
        let waves = run_all(&mut e, &s, &[]);
        assert_eq!(waves, vec![vec!["a.service"], vec!["t.target"]]);
    }

    #[test]
    fn required_cycle_ignores_an_edge() {
        let s = set(&[
            ("a.service", "b.service", "", "b.service"),
            ("b.service", "a.service", "", "a.service"),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "a.service", false, &|_| ActiveState::Inactive)
            .unwrap();
        assert!(
            e.messages
                .iter()
                .any(|m| m.contains("ignoring the ordering")),
            "{:?}",
            e.messages
        );
        assert_eq!(run_all(&mut e, &s, &[]).concat().len(), 2);
    }

    #[test]
    fn stop_goes_in_reverse_order_and_pulls_dependents() {
        let s = set(&[
            ("a.service", "b.service", "", "b.service"),
            ("b.service", "", "", ""),
            ("c.service", "", "", ""),
        ]);
        let mut e = Engine::new(&s);
        e.stop(&s, "b.service", &|n| {
            if n == "c.service" {
                ActiveState::Inactive
            } else {
                ActiveState::Active
            }
        })
        .unwrap();
        assert_eq!(
            run_all(&mut e, &s, &[]),
            vec![vec!["a.service"], vec!["b.service"]]
        );
    }

    #[test]
    fn active_units_do_not_pull_their_stopped_wants_back() {
        let s = set(&[
            ("x.service", "base.target", "", ""),
            ("base.target", "", "m.mount", ""),
            ("m.mount", "", "", ""),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "x.service", false, &|n| {
            if n == "base.target" {
                ActiveState::Active
            } else {
                ActiveState::Inactive
            }
        })
        .unwrap();
        assert!(!e.jobs.contains_key("m.mount"));
        assert!(e.jobs.contains_key("x.service"));
    }

    #[test]
    fn isolate_stops_units_outside_the_closure() {
        let s = set(&[
            ("t.target", "a.service", "", ""),
            ("a.service", "", "", ""),
            ("z.service", "", "", ""),
        ]);
        let mut e = Engine::new(&s);
        e.start(&s, "t.target", true, &|n| {
            if n == "z.service" {
                ActiveState::Active
            } else {
                ActiveState::Inactive
            }
        })
        .unwrap();
        assert_eq!(e.jobs["z.service"].kind, JobKind::Stop);
        assert_eq!(e.jobs["a.service"].kind, JobKind::Start);
    }
}
