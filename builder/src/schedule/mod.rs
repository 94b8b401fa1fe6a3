//! A DAG scheduler for realisation: runs jobs whose dependencies succeeded,
//! at most `jobs` at a time, with per-output file locks and progress reports.
//!
//! The scheduler is generic: it knows nodes, edges and a [`Job`] that says how
//! to lock, check, substitute and build a node. Wiring it to derivations and
//! the store is [`crate::realise`]'s business.
//!
//! Behaviour, in Nix's terms:
//! - `-j N`: at most N jobs run at once (each in its own thread; the real work
//!   is in sandboxed processes).
//! - Deterministic order: among the ready nodes the one added first starts
//!   first, so with `-j 1` the run order is fixed, and results are reported per
//!   node in insertion order whatever the interleaving.
//! - Without `--keep-going`, the first failure cancels the run: the shared
//!   [`CancelToken`] is cancelled (killing running sandboxes) and nothing new
//!   starts. With it, everything not depending on a failure still runs.
//! - Locks: before a job checks or builds a node it takes the node's lock files
//!   (one per output path); after getting them it asks [`Job::is_done`] again,
//!   so a node another process finished meanwhile is not rebuilt.
//! - Substitution: [`Job::substitute`] may produce a node's outputs before a
//!   build is attempted.

mod lock;
mod progress;

pub use lock::{lock_path, lock_paths, LockError, PathLock};
pub use progress::{BuildLines, IndicatifProgress, NoProgress, Progress};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::sandbox::CancelToken;

/// Index of a node in its [`Dag`], in insertion order.
pub type NodeId = usize;

/// A directed acyclic graph of nodes of type `T`.
///
/// Invariant: a node's dependencies were added before it, which makes cycles
/// impossible by construction and insertion order a topological order.
#[derive(Debug, Clone)]
pub struct Dag<T> {
    nodes: Vec<T>,
    deps: Vec<Vec<NodeId>>,
    dependents: Vec<Vec<NodeId>>,
}

impl<T> Default for Dag<T> {
    fn default() -> Self {
        Dag {
            nodes: Vec::new(),
            deps: Vec::new(),
            dependents: Vec::new(),
        }
    }
}

/// A dependency that does not (yet) exist.
#[derive(Debug, thiserror::Error)]
#[error("node {node} depends on unknown node {dep} (dependencies must be added first)")]
pub struct UnknownDependency {
    /// The node being added.
    pub node: NodeId,
    /// The missing dependency.
    pub dep: NodeId,
}

impl<T> Dag<T> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node depending on existing nodes; returns its id.
    pub fn add(&mut self, node: T, deps: &[NodeId]) -> Result<NodeId, UnknownDependency> {
        let id = self.nodes.len();
        let mut deps: Vec<NodeId> = deps.to_vec();
        deps.sort_unstable();
        deps.dedup();
        if let Some(&dep) = deps.iter().find(|&&d| d >= id) {
            return Err(UnknownDependency { node: id, dep });
        }
        for &d in &deps {
            self.dependents[d].push(id);
        }
        self.nodes.push(node);
        self.deps.push(deps);
        self.dependents.push(Vec::new());
        Ok(id)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &T {
        &self.nodes[id]
    }

    /// Its direct dependencies.
    pub fn deps(&self, id: NodeId) -> &[NodeId] {
        &self.deps[id]
    }

    /// All nodes in insertion (topological) order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.nodes.iter().enumerate()
    }
}

/// How to realise one node. Methods run on worker threads.
pub trait Job: Sync {
    /// The node type.
    type Node: Sync;
    /// The error of one node.
    type Error: std::error::Error + Send;

    /// A short label for progress and messages (e.g. the derivation name).
    fn label(&self, node: &Self::Node) -> String;

    /// What is built, as users name it (a `.drv` path), for the line printed
    /// when its build starts; the label when there is nothing better.
    fn describe(&self, node: &Self::Node) -> String {
        self.label(node)
    }

    /// Lock files to hold while checking and building (one per output path).
    fn lock_files(&self, _node: &Self::Node) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Whether the node's outputs already exist (asked after locking).
    fn is_done(&self, _node: &Self::Node) -> Result<bool, Self::Error> {
        Ok(false)
    }

    /// Try to obtain the outputs without building; `Ok(true)` if it did.
    fn substitute(&self, _node: &Self::Node, _ctx: &JobContext<'_>) -> Result<bool, Self::Error> {
        Ok(false)
    }

    /// Build the node. Must give up promptly once `ctx.cancel()` is cancelled.
    fn build(&self, node: &Self::Node, ctx: &JobContext<'_>) -> Result<(), Self::Error>;

    /// Turns a lock failure into the node error type.
    fn lock_error(&self, node: &Self::Node, error: LockError) -> Self::Error;
}

/// What a running job may use: cancellation, log reporting, and the early
/// start of its dependents.
pub struct JobContext<'a> {
    id: NodeId,
    cancel: &'a CancelToken,
    progress: &'a dyn Progress,
    /// Tells the coordinator to start the dependents now.
    release: Option<&'a (dyn Fn() + Sync)>,
}

impl JobContext<'_> {
    /// The node being realised.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Cancelled when the run stops (user cancellation or, without
    /// keep-going, another job's failure).
    pub fn cancel(&self) -> &CancelToken {
        self.cancel
    }

    /// Reports one log line (shown as the job's last line).
    pub fn log_line(&self, line: &str) {
        self.progress.job_log(self.id, line);
    }

    /// Lets the scheduler start the node's dependents before this job has
    /// finished (their inputs exist; say, only a flush to disk remains). The
    /// job must then make those dependents fail by themselves if this node
    /// fails after all: the scheduler only holds back dependents that have
    /// not started yet.
    pub fn release_dependents(&self) {
        if let Some(release) = self.release {
            release();
        }
    }
}

/// What worker threads tell the coordinator.
enum Event<E> {
    /// [`JobContext::release_dependents`] was called for this node.
    Released(NodeId),
    /// The node's job is over.
    Done(NodeId, Outcome<E>),
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Maximum number of jobs at once (`-j`); 0 is treated as 1.
    pub jobs: usize,
    /// Keep building what does not depend on a failure (`--keep-going`).
    pub keep_going: bool,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        ScheduleOptions {
            jobs: 1,
            keep_going: false,
        }
    }
}

/// What happened to one node.
#[derive(Debug)]
pub enum Outcome<E> {
    /// Built by this run.
    Built,
    /// Obtained through [`Job::substitute`].
    Substituted,
    /// Already present (possibly built by another process while we waited).
    AlreadyDone,
    /// Its job failed.
    Failed(E),
    /// Not attempted because this dependency failed (directly or transitively).
    DependencyFailed(NodeId),
    /// Not attempted, or interrupted, because the run was cancelled.
    Cancelled,
}

impl<E> Outcome<E> {
    /// Whether the node's outputs exist after the run.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Built | Outcome::Substituted | Outcome::AlreadyDone
        )
    }
}

/// Counts over a run's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Nodes in the graph.
    pub total: usize,
    /// Built by this run.
    pub built: usize,
    /// Substituted.
    pub substituted: usize,
    /// Already present.
    pub already_done: usize,
    /// Failed themselves.
    pub failed: usize,
    /// Skipped because a dependency failed.
    pub dependency_failed: usize,
    /// Cancelled or never started.
    pub cancelled: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} built, {} substituted, {} already present, {} failed",
            self.built, self.substituted, self.already_done, self.failed
        )?;
        if self.dependency_failed > 0 {
            write!(
                f,
                ", {} skipped (dependency failed)",
                self.dependency_failed
            )?;
        }
        if self.cancelled > 0 {
            write!(f, ", {} cancelled", self.cancelled)?;
        }
        Ok(())
    }
}

/// The result of a run: one outcome per node, in node order.
#[derive(Debug)]
pub struct Report<E> {
    /// Indexed by [`NodeId`].
    pub outcomes: Vec<Outcome<E>>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl<E> Report<E> {
    /// Whether every node succeeded.
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_success)
    }

    /// The nodes whose own job failed, with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (NodeId, &E)> {
        self.outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Outcome::Failed(e) => Some((i, e)),
                _ => None,
            })
    }

    /// Counts.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.outcomes.len(),
            ..Summary::default()
        };
        for o in &self.outcomes {
            match o {
                Outcome::Built => s.built += 1,
                Outcome::Substituted => s.substituted += 1,
                Outcome::AlreadyDone => s.already_done += 1,
                Outcome::Failed(_) => s.failed += 1,
                Outcome::DependencyFailed(_) => s.dependency_failed += 1,
                Outcome::Cancelled => s.cancelled += 1,
            }
        }
        s
    }
}

/// How often the coordinator checks for cancellation while jobs run.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Realises every node of `dag` with `job`.
///
/// `cancel` stops the run when cancelled by the caller; the scheduler itself
/// cancels it on the first failure unless `keep_going` is set.
pub fn run<J: Job>(
    dag: &Dag<J::Node>,
    job: &J,
    opts: &ScheduleOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Report<J::Error> {
    let start = Instant::now();
    let n = dag.len();
    let jobs = opts.jobs.max(1);
    let mut outcomes: Vec<Option<Outcome<J::Error>>> = (0..n).map(|_| None).collect();
    let mut waiting_on: Vec<usize> = dag.deps.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<NodeId> = (0..n).filter(|&i| waiting_on[i] == 0).collect();
    let mut running = 0usize;
    progress.start(n);

    // Nodes whose dependents were started (early, or when they succeeded).
    let mut released = vec![false; n];
    let release = |id: NodeId,
                   released: &mut [bool],
                   waiting_on: &mut [usize],
                   ready: &mut BTreeSet<NodeId>,
                   outcomes: &[Option<Outcome<J::Error>>]| {
        if std::mem::replace(&mut released[id], true) {
            return;
        }
        for &d in &dag.dependents[id] {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 && outcomes[d].is_none() {
                ready.insert(d);
            }
        }
    };
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event<J::Error>>();
        loop {
            let stopping = cancel.is_cancelled();
            while !stopping && running < jobs {
                let Some(id) = ready.pop_first() else { break };
                running += 1;
                let tx = tx.clone();
                let label = job.label(dag.node(id));
                progress.job_started(id, &label);
                scope.spawn(move || {
                    // The receiver lives until every job has reported.
                    let early = || {
                        let _ = tx.send(Event::Released(id));
                    };
                    let outcome = realise_one(job, dag.node(id), id, cancel, progress, &early);
                    let _ = tx.send(Event::Done(id, outcome));
                });
            }
            if running == 0 {
                break;
            }
            let (id, outcome) = match rx.recv_timeout(CANCEL_POLL) {
                Ok(Event::Done(id, outcome)) => (id, outcome),
                Ok(Event::Released(id)) => {
                    // An early release starts dependents; the job goes on.
                    if !cancel.is_cancelled() {
                        release(id, &mut released, &mut waiting_on, &mut ready, &outcomes);
                    }
                    continue;
                }
                Err(_) => continue,
            };
            running -= 1;
            let label = job.label(dag.node(id));
            progress.job_finished(
                id,
                &label,
                outcome_word(&outcome),
                error_text(&outcome).as_deref(),
            );
            if outcome.is_success() {
                release(id, &mut released, &mut waiting_on, &mut ready, &outcomes);
            } else if matches!(outcome, Outcome::Failed(_)) {
                mark_dependents_failed(dag, id, &mut outcomes, &mut ready);
                if !opts.keep_going {
                    cancel.cancel();
                }
            }
            outcomes[id] = Some(outcome);
        }
    });

    let outcomes: Vec<Outcome<J::Error>> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Cancelled))
        .collect();
    let report = Report {
        outcomes,
        elapsed: start.elapsed(),
    };
    progress.finish(&report.summary());
    report
}

/// Marks everything downstream of `failed` as skipped.
fn mark_dependents_failed<E>(
    dag: &Dag<impl Sync>,
    failed: NodeId,
    outcomes: &mut [Option<Outcome<E>>],
    ready: &mut BTreeSet<NodeId>,
) {
    let mut stack = vec![failed];
    while let Some(id) = stack.pop() {
        for &d in &dag.dependents[id] {
            if outcomes[d].is_none() {
                outcomes[d] = Some(Outcome::DependencyFailed(failed));
                ready.remove(&d);
                stack.push(d);
            }
        }
    }
}

fn outcome_word<E>(o: &Outcome<E>) -> &'static str {
    match o {
        Outcome::Built => "built",
        Outcome::Substituted => "substituted",
        Outcome::AlreadyDone => "already present",
        Outcome::Failed(_) => "failed",
        Outcome::DependencyFailed(_) => "dependency failed",
        Outcome::Cancelled => "cancelled",
    }
}

fn error_text<E: std::fmt::Display>(o: &Outcome<E>) -> Option<String> {
    match o {
        Outcome::Failed(e) => Some(e.to_string()),
        _ => None,
    }
}

/// Lock, check, substitute, build: one node on a worker thread.
fn realise_one<J: Job>(
    job: &J,
    node: &J::Node,
    id: NodeId,
    cancel: &CancelToken,
    progress: &dyn Progress,
    release: &(dyn Fn() + Sync),
) -> Outcome<J::Error> {
    let ctx = JobContext {
        id,
        cancel,
        progress,
        release: Some(release),
    };
    let mut on_wait = |p: &Path| ctx.log_line(&format!("waiting for lock on {}", p.display()));
    let mut locks = match lock_paths(&job.lock_files(node), cancel, &mut on_wait) {
        Ok(l) => l,
        Err(LockError::Cancelled { .. }) => return Outcome::Cancelled,
        Err(e) => return Outcome::Failed(job.lock_error(node, e)),
    };
    let outcome = (|| {
        if job.is_done(node)? {
            return Ok(Outcome::AlreadyDone);
        }
        if job.substitute(node, &ctx)? {
            return Ok(Outcome::Substituted);
        }
        progress.job_building(id, &job.label(node), &job.describe(node));
        job.build(node, &ctx)?;
        Ok(Outcome::Built)
    })();
    match outcome {
        Ok(o) => {
            // The outputs are valid now; waiters will see it through is_done.
            for l in &mut locks {
                l.delete_on_release();
            }
            o
        }
        // A failure caused by our own cancellation is reported as cancelled.
        Err(_) if cancel.is_cancelled() => Outcome::Cancelled,
        Err(e) => Outcome::Failed(e),
    }
}
