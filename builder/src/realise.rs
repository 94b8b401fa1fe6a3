//! Realisation: from `.drv` paths to built, registered store paths.
//!
//! [`realise`] reads the derivation graph from the store, turns it into a
//! [`Dag`] and runs it with the [scheduler](crate::schedule). Each derivation
//! whose outputs are not valid yet is built — in-process for `builtin:`
//! builders, otherwise in the [sandbox](crate::sandbox) with exactly its input
//! closure — in a scratch directory under `<state>/builds`. Its outputs are
//! then taken under temporary names in the store directory (copied into fresh
//! inodes for fixed-output builds), given to us, made read-only and checked
//! (fixed-output derivations must match their declared hash) there (module
//! `outputs`), only then renamed to their final place, and registered
//! with the references found by
//! scanning them for the hash parts of the input closure and of the outputs.
//! While this happens the outputs' store path locks are held, so no other
//! process builds or collects them.
//!
//! Before scheduling, when substituters are configured, the derivation
//! closure is walked from the roots and every derivation whose outputs are
//! missing is offered to the caches ([`substitute`]): when all its outputs
//! can be fetched (signed by a trusted key, with their closures) they are,
//! and its inputs are not looked at (as Nix does). This happens outside the
//! scheduler on purpose: jobs hold their outputs' locks, which fetching takes too.
//!
//! Each build's log (stdout and stderr of the builder, uncompressed) is kept
//! at [`log_path`]: `<state>/log/drvs/<first two characters of the .drv's
//! base name>/<the rest>`, Nix's layout without its `.bz2` compression.
//!
//! With [`RealiseOptions::check`], the requested derivations are built once
//! more after everything is valid and their outputs compared with the
//! registered ones by NAR hash ([`check`]); a differing rebuild is kept at
//! `<output>.check`, outside the set of valid paths.
//!
//! This module does not evaluate Nix code.

mod basic;
mod check;
mod drv_check;
mod log;
mod outputs;
mod remote;
mod roots;
mod substitute;

pub use basic::realise_basic;
pub use check::{diff_trees, Difference};
pub use log::{find_log, log_path, LogLookupError};
pub use substitute::{SubstituterSettings, Substituters, SubstitutersError};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

use b8g_store::format::derivation::Derivation;
use b8g_store::format::hash::HashAlgo;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

use crate::builtin::{BuiltinContext, BuiltinError, Builtins, StoreInputs};
use crate::sandbox::{
    remove_tree, BindMount, BuildSpec, CancelToken, FileLog, Sandbox, SandboxConfig, SandboxError,
};
use crate::schedule::{self, Dag, Job, JobContext, LockError, NodeId, Progress, ScheduleOptions};
use roots::TempRoots;

/// Settings of a realisation.
#[derive(Debug, Clone, Default)]
pub struct RealiseOptions {
    /// Parallel jobs and keep-going.
    pub schedule: ScheduleOptions,
    /// Sandbox settings; its `store_dir` is replaced by the store's.
    pub sandbox: SandboxConfig,
    /// Rebuild the requested derivations and compare with their valid outputs.
    pub check: bool,
    /// Binary caches to try before building (none: build everything).
    pub substituters: Substituters,
    /// Remote machines to build on (`--builders`); `schedule.jobs` is then
    /// the number of local builds, which may be 0.
    pub builders: Vec<crate::remote::Machine>,
    /// Let remote machines fetch inputs from their own caches before any
    /// are copied to them (Nix's `builders-use-substitutes`).
    pub builders_use_substitutes: bool,
}

/// The outputs of each requested derivation.
#[derive(Debug, Clone, Default)]
pub struct Realised {
    /// Derivation path to output name to output path.
    pub outputs: BTreeMap<StorePath, BTreeMap<String, StorePath>>,
    /// What the run did.
    pub summary: schedule::Summary,
    /// Paths fetched from caches (outputs and their closures), references first.
    pub substituted: Vec<StorePath>,
    /// Derivations whose outputs the caches had but could not deliver
    /// (they were built instead), with the reason.
    pub substitution_failures: Vec<(StorePath, String)>,
}

/// What a realisation would do ([`plan`], `--dry-run`).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Derivations that would be built, dependencies first.
    pub build: Vec<StorePath>,
    /// Output paths that trusted caches have (their closures would come along).
    pub fetch: Vec<StorePath>,
}

/// Why one derivation could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The sandboxed build failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A builtin builder failed.
    #[error("builtin builder of {drv} failed: {source}")]
    Builtin {
        /// The derivation.
        drv: String,
        /// The builtin's error.
        source: BuiltinError,
    },
    /// A fixed-output derivation produced something else than it declared.
    #[error(
        "hash mismatch in fixed-output derivation '{drv}':\n  specified: {specified}\n     got:    {got}"
    )]
    HashMismatch {
        /// The derivation.
        drv: String,
        /// The declared hash (SRI).
        specified: String,
        /// The hash of what was built (SRI).
        got: String,
    },
    /// A fixed-output derivation declares a hash we cannot interpret.
    #[error("fixed-output derivation '{drv}' has a bad output hash: {reason}")]
    BadOutputHash {
        /// The derivation.
        drv: String,
        /// What is wrong.
        reason: String,
    },
    /// A store operation failed.
    #[error("{what} for {drv}: {source}")]
    Store {
        /// What was being done.
        what: &'static str,
        /// The derivation.
        drv: String,
        /// The store's error (boxed: it is large and failures are rare).
        source: Box<b8g_store::local::Error>,
    },
    /// A file operation outside the store failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Taking an output lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `--check`: the rebuild differs from the valid output.
    #[error(
        "derivation '{drv}' may not be deterministic: output '{output}' differs from '{output}.check'{}",
        check::describe(differences)
    )]
    NotDeterministic {
        /// The derivation.
        drv: String,
        /// The output path that differs.
        output: String,
        /// What differs, file by file.
        differences: Vec<Difference>,
    },
    /// `--check` on a derivation whose outputs are not valid.
    #[error("some outputs of '{drv}' are not valid, so checking is not possible")]
    CheckInvalid {
        /// The derivation.
        drv: String,
    },
    /// An input built by this run (its dependents started early) could not
    /// be registered, so neither can this derivation's outputs.
    #[error("input {input} of {drv} was built but could not be registered")]
    InputNotRegistered {
        /// The derivation.
        drv: String,
        /// The input.
        input: String,
    },
    /// A remote machine built the derivation and it failed there.
    #[error("build of {drv} on {machine} failed ({status}): {message}")]
    Remote {
        /// The derivation.
        drv: String,
        /// The machine's URI.
        machine: String,
        /// The serve protocol's status.
        status: String,
        /// What the machine said.
        message: String,
    },
    /// No machine can take the derivation.
    #[error("cannot build {drv}: {source}")]
    NoBuilder {
        /// The derivation.
        drv: String,
        /// Why (boxed: it lists the machines).
        source: Box<crate::remote::SlotError>,
    },
    /// The derivation is for another platform.
    #[error("cannot build {drv} for system {system} on {host}")]
    WrongSystem {
        /// The derivation.
        drv: String,
        /// Its system.
        system: String,
        /// Ours.
        host: &'static str,
    },
}

/// Why a realisation failed.
#[derive(Debug, thiserror::Error)]
pub enum RealiseError {
    /// A derivation could not be read.
    #[error("cannot read derivation {}: {reason}", path.display())]
    ReadDerivation {
        /// Its physical path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A store query failed.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// The store's error (boxed: it is large and failures are rare).
        source: Box<b8g_store::local::Error>,
    },
    /// A path in a derivation is not a valid store path.
    #[error("derivation {drv} refers to {path:?}, which is not a store path: {reason}")]
    BadPath {
        /// The derivation.
        drv: String,
        /// The offending string.
        path: String,
        /// Why.
        reason: String,
    },
    /// An input source is missing from the store.
    #[error("input {path} of {drv} is not valid in the store")]
    MissingInput {
        /// The derivation.
        drv: String,
        /// The input.
        path: String,
    },
    /// A derivation uses an output its input derivation does not have.
    #[error("derivation {drv} uses output {output} of {input}, which has no such output")]
    UnknownOutput {
        /// The derivation.
        drv: String,
        /// The input derivation.
        input: String,
        /// The output name.
        output: String,
    },
    /// The derivation graph has a cycle (a corrupt or forged store).
    #[error("derivation {drv} depends on {input}, which depends on it")]
    Cycle {
        /// The derivation.
        drv: String,
        /// The input closing the cycle.
        input: String,
    },
    /// The sandbox configuration is invalid.
    #[error(transparent)]
    Sandbox(SandboxError),
    /// A state directory could not be created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Substitution failed in a way that building cannot repair (the local store).
    #[error("substitution of {drv}'s outputs: {source}")]
    Substitute {
        /// The derivation.
        drv: String,
        /// The store's error.
        source: Box<b8g_store::cache::SubstituteError>,
    },
    /// Every build succeeded but a scratch directory could not be removed.
    #[error("cannot remove scratch directory {}: {source}", path.display())]
    Cleanup {
        /// The scratch directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Some builds failed.
    #[error("{} failed ({summary}){}", failures.len(), first_failure(failures))]
    Failed {
        /// Each failed derivation with its error.
        failures: Vec<(String, BuildError)>,
        /// Counts.
        summary: schedule::Summary,
    },
}

fn first_failure(failures: &[(String, BuildError)]) -> String {
    match failures.first() {
        Some((drv, e)) => format!(": {drv}: {e}"),
        None => String::new(),
    }
}

/// The platform string of this machine, as derivations spell it.
pub const HOST_SYSTEM: &str = "x86_64-linux";

/// One derivation of the graph.
struct DrvNode {
    path: StorePath,
    drv: Derivation,
    /// Output name to path.
    outputs: BTreeMap<String, StorePath>,
    /// The store paths it reads: input sources and the used outputs of input derivations.
    inputs: BTreeSet<StorePath>,
    /// Read from a valid `.drv` here and checked: its output mapping may be
    /// recorded. A derivation sent by a serve client is not.
    from_store: bool,
}

/// Realises `drvs` (paths of `.drv` files in `store`) and their dependencies.
pub fn realise(
    store: &LocalStore,
    drvs: &[StorePath],
    opts: &RealiseOptions,
    builtins: &Builtins,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<Realised, RealiseError> {
    let mut substituted = Vec::new();
    let mut substitution_failures = Vec::new();
    let mut fetch = |node: &DrvNode| -> Result<bool, RealiseError> {
        if opts.substituters.is_empty() {
            return Ok(false);
        }
        let outs: Vec<StorePath> = node.outputs.values().cloned().collect();
        match opts.substituters.fetch(store, &outs) {
            Ok(Some(paths)) => {
                for (p, from) in paths {
                    progress.path_substituted(&store.print_path(&p), &from);
                    substituted.push(p);
                }
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(substitute::Failure::Retryable(reason)) => {
                substitution_failures.push((node.path.clone(), reason));
                Ok(false)
            }
            Err(substitute::Failure::Fatal(source)) => Err(RealiseError::Substitute {
                drv: store.print_path(&node.path),
                source,
            }),
        }
    };
    // A check rebuilds the requested derivations, so their inputs must be
    // valid even when their outputs already are: realise those too.
    let mut roots = drvs.to_vec();
    if opts.check {
        for d in drvs {
            let node = read_node(store, d)?;
            for input in node.drv.input_drvs.keys() {
                roots.push(parse(store, d, input)?);
            }
        }
    }
    let temp_roots = TempRoots::new(store);
    let (dag, index) = load_graph(store, &roots, Some(&temp_roots), &mut fetch)?;
    let mut job = DrvJob::new(store, opts, builtins, &temp_roots, false)?;
    let schedule = job.schedule_options(&opts.schedule);
    let report = schedule::run(&dag, &job, &schedule, progress, cancel);
    let cleaned = job.cleaner.finish();
    let mut summary = report.summary();
    if !report.is_success() {
        return Err(failed(store, &dag, report.outcomes, summary));
    }
    cleaned?;
    if opts.check {
        // Only the requested derivations are checked (as Nix does); their
        // inputs are valid now, so each check is one independent rebuild.
        let mut checks: Dag<DrvNode> = Dag::new();
        for d in drvs {
            let mut node = read_node(store, d)?;
            resolve_inputs(store, &mut node)?;
            checks
                .add(node, &[])
                .expect("check nodes have no dependencies");
        }
        let mut check_job = DrvJob::new(store, opts, builtins, &temp_roots, true)?;
        let report = schedule::run(&checks, &check_job, &opts.schedule, progress, cancel);
        let cleaned = check_job.cleaner.finish();
        if !report.is_success() {
            let s = report.summary();
            return Err(failed(store, &checks, report.outcomes, s));
        }
        cleaned?;
    }
    summary.substituted += substituted.len();
    let outputs = drvs
        .iter()
        .map(|d| (d.clone(), dag.node(index[d]).outputs.clone()))
        .collect();
    Ok(Realised {
        outputs,
        summary,
        substituted,
        substitution_failures,
    })
}

/// What realising `drvs` would build and fetch, without doing either.
/// Caches are only asked for narinfos (signature checked), not for NARs.
pub fn plan(
    store: &LocalStore,
    drvs: &[StorePath],
    substituters: &Substituters,
) -> Result<Plan, RealiseError> {
    let mut fetch = Vec::new();
    let mut query = |node: &DrvNode| -> Result<bool, RealiseError> {
        if substituters.is_empty() {
            return Ok(false);
        }
        let mut missing = Vec::new();
        for p in node.outputs.values() {
            if !is_valid(store, p)? {
                missing.push(p.clone());
            }
        }
        if substituters.has_all(store, &missing) {
            fetch.extend(missing);
            return Ok(true);
        }
        Ok(false)
    };
    // A dry run builds nothing: no temporary roots.
    let (dag, _) = load_graph(store, drvs, None, &mut query)?;
    let mut build = Vec::new();
    for (_, node) in dag.nodes() {
        if !all_valid(store, node)? && !node.outputs.values().all(|p| fetch.contains(p)) {
            build.push(node.path.clone());
        }
    }
    Ok(Plan { build, fetch })
}

fn failed(
    store: &LocalStore,
    dag: &Dag<DrvNode>,
    outcomes: Vec<schedule::Outcome<BuildError>>,
    summary: schedule::Summary,
) -> RealiseError {
    let failures = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            schedule::Outcome::Failed(e) => Some((store.print_path(&dag.node(i).path), e)),
            _ => None,
        })
        .collect();
    RealiseError::Failed { failures, summary }
}

/// Fills `node.inputs` with the outputs of its input derivations, read from
/// their `.drv` files (for nodes the graph walk did not descend into).
fn resolve_inputs(store: &LocalStore, node: &mut DrvNode) -> Result<(), RealiseError> {
    for (full, wanted) in &node.drv.input_drvs {
        let input_path = parse(store, &node.path, full)?;
        let input = read_node(store, &input_path)?;
        for output in wanted {
            let p = input
                .outputs
                .get(output)
                .ok_or_else(|| RealiseError::UnknownOutput {
                    drv: store.print_path(&node.path),
                    input: full.clone(),
                    output: output.clone(),
                })?;
            node.inputs.insert(p.clone());
        }
    }
    Ok(())
}

/// Reads the derivation graph below `roots`, dependencies first. A derivation
/// whose outputs are all valid, or that `obtain` makes valid (substitution),
/// becomes a leaf: its inputs are not needed.
fn load_graph(
    store: &LocalStore,
    roots: &[StorePath],
    temp_roots: Option<&TempRoots<'_>>,
    obtain: &mut dyn FnMut(&DrvNode) -> Result<bool, RealiseError>,
) -> Result<(Dag<DrvNode>, HashMap<StorePath, NodeId>), RealiseError> {
    let mut dag: Dag<DrvNode> = Dag::new();
    let mut index: HashMap<StorePath, NodeId> = HashMap::new();
    // Iterative post-order DFS: (path, loaded node waiting for its inputs).
    enum Frame {
        Enter(StorePath),
        Exit(Box<DrvNode>, Vec<StorePath>),
    }
    let mut stack: Vec<Frame> = roots.iter().rev().cloned().map(Frame::Enter).collect();
    let mut entered: BTreeSet<StorePath> = BTreeSet::new();
    while let Some(frame) = stack.pop() {
        match frame {
            Frame::Enter(path) => {
                if index.contains_key(&path) || !entered.insert(path.clone()) {
                    continue;
                }
                // Rooted before they are read or found valid: a GC from now
                // on keeps what this plan counts on (see `roots`).
                if let Some(r) = temp_roots {
                    r.add(&path).map_err(root_err(store, &path))?;
                }
                let node = read_node(store, &path)?;
                if let Some(r) = temp_roots {
                    for p in node.outputs.values().chain(&node.inputs) {
                        r.add(p).map_err(root_err(store, p))?;
                    }
                }
                let done = all_valid(store, &node)? || obtain(&node)?;
                let input_drvs: Vec<StorePath> = if done {
                    Vec::new()
                } else {
                    node.drv
                        .input_drvs
                        .keys()
                        .map(|p| parse(store, &node.path, p))
                        .collect::<Result<_, _>>()?
                };
                stack.push(Frame::Exit(Box::new(node), input_drvs.clone()));
                for d in input_drvs.into_iter().rev() {
                    stack.push(Frame::Enter(d));
                }
            }
            Frame::Exit(mut node, input_drvs) => {
                let mut deps = Vec::with_capacity(input_drvs.len());
                for (d, full) in input_drvs.iter().zip(node.drv.input_drvs.keys()) {
                    // Entered but not finished: only a cycle can do that.
                    let id = *index.get(d).ok_or_else(|| RealiseError::Cycle {
                        drv: store.print_path(&node.path),
                        input: full.clone(),
                    })?;
                    deps.push(id);
                    let input = dag.node(id);
                    for output in &node.drv.input_drvs[full] {
                        let p = input.outputs.get(output).ok_or_else(|| {
                            RealiseError::UnknownOutput {
                                drv: store.print_path(&node.path),
                                input: full.clone(),
                                output: output.clone(),
                            }
                        })?;
                        node.inputs.insert(p.clone());
                    }
                }
                let path = node.path.clone();
                let id = dag
                    .add(*node, &deps)
                    .expect("dependencies are added before their dependents");
                index.insert(path, id);
            }
        }
    }
    Ok((dag, index))
}

fn parse(store: &LocalStore, drv: &StorePath, full: &str) -> Result<StorePath, RealiseError> {
    store.parse_path(full).map_err(|e| RealiseError::BadPath {
        drv: store.print_path(drv),
        path: full.to_owned(),
        reason: e.to_string(),
    })
}

fn read_node(store: &LocalStore, path: &StorePath) -> Result<DrvNode, RealiseError> {
    let real = store.real_path(path);
    let bad = |reason: String| RealiseError::ReadDerivation {
        path: real.clone(),
        reason,
    };
    let text = fs::read(&real).map_err(|e| bad(e.to_string()))?;
    let drv = Derivation::parse(&text).map_err(|e| bad(e.to_string()))?;
    drv_check::check_outputs(store, &drv).map_err(|e| bad(e.to_string()))?;
    let mut outputs = BTreeMap::new();
    for (name, out) in &drv.outputs {
        outputs.insert(name.clone(), parse(store, path, &out.path)?);
    }
    let mut inputs = BTreeSet::new();
    for src in &drv.input_srcs {
        inputs.insert(parse(store, path, src)?);
    }
    Ok(DrvNode {
        path: path.clone(),
        drv,
        outputs,
        inputs,
        from_store: true,
    })
}

fn root_err(
    store: &LocalStore,
    p: &StorePath,
) -> impl FnOnce(b8g_store::local::Error) -> RealiseError {
    let what = format!("add temporary root {}", store.print_path(p));
    move |source| RealiseError::Store {
        what,
        source: Box::new(source),
    }
}

fn is_valid(store: &LocalStore, p: &StorePath) -> Result<bool, RealiseError> {
    store.is_valid(p).map_err(|source| RealiseError::Store {
        what: format!("check validity of {}", store.print_path(p)),
        source: Box::new(source),
    })
}

fn all_valid(store: &LocalStore, node: &DrvNode) -> Result<bool, RealiseError> {
    for p in node.outputs.values() {
        if !is_valid(store, p)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Builds derivation nodes for the scheduler.
struct DrvJob<'a> {
    store: &'a LocalStore,
    sandbox: Sandbox,
    builtins: &'a Builtins,
    /// `<state>/builds`: scratch directories, on the store's file system so
    /// most outputs are renamed into place (see module `outputs`).
    builds: PathBuf,
    counter: AtomicUsize,
    /// The temporary roots of this realisation.
    roots: &'a TempRoots<'a>,
    /// Rebuild valid outputs and compare instead of installing.
    check: bool,
    /// Removes scratch directories once their build is over.
    cleaner: Cleaner,
    /// Outputs built and handed to dependents but not registered yet.
    pending: Mutex<HashMap<StorePath, Arc<Pending>>>,
    /// Remote machines and the slots shared with them (`--builders`).
    builders: Option<crate::remote::Builders>,
    /// Machines fetch inputs from their own caches first.
    builders_use_substitutes: bool,
}

/// An output whose dependents may build while it is being registered.
struct Pending {
    references: BTreeSet<StorePath>,
    /// `None` while registering, then whether it became valid.
    state: Mutex<Option<bool>>,
    settled: Condvar,
}

/// The outputs of one build, announced in [`DrvJob::pending`]; settled as
/// failed if dropped unsettled, so no dependent waits forever.
struct Announced<'j> {
    job: &'j DrvJob<'j>,
    outputs: Vec<(StorePath, Arc<Pending>)>,
    settled: bool,
}

impl Announced<'_> {
    fn settle(mut self, valid: bool) {
        self.finish(valid);
    }

    fn finish(&mut self, valid: bool) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        for (_, p) in &self.outputs {
            *p.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(valid);
            p.settled.notify_all();
        }
        // Valid outputs are in the database from now on; failed ones are
        // gone for good. Either way the table need not know them.
        let mut table = self.job.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (path, _) in &self.outputs {
            table.remove(path);
        }
    }
}

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Removes scratch directories on a thread of its own, so that the next
/// build (in a chain, the dependent one) need not wait for a few directory
/// removals, which on a busy journalling file system can take longer than
/// the build. [`Cleaner::finish`] waits for all of them before the
/// realisation returns.
struct Cleaner {
    tx: Option<mpsc::Sender<PathBuf>>,
    thread: Option<std::thread::JoinHandle<Result<(), RealiseError>>>,
}

impl Cleaner {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let thread = std::thread::Builder::new()
            .name("b8g-scratch-cleaner".into())
            .spawn(move || {
                let mut first = Ok(());
                for path in rx {
                    if let Err(source) = remove_tree(&path) {
                        if first.is_ok() {
                            first = Err(RealiseError::Cleanup { path, source });
                        }
                    }
                }
                first
            });
        match thread {
            Ok(t) => Cleaner {
                tx: Some(tx),
                thread: Some(t),
            },
            // No thread: remove inline instead (see `remove`).
            Err(_) => Cleaner {
                tx: None,
                thread: None,
            },
        }
    }

    /// Removes `path` soon; an error shows in [`finish`](Self::finish).
    fn remove(&self, path: PathBuf) -> Result<(), BuildError> {
        let path = match &self.tx {
            Some(tx) => match tx.send(path) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(path)) => path,
            },
            None => path,
        };
        remove_tree(&path).map_err(|source| BuildError::Io {
            what: "remove scratch directory",
            path,
            source,
        })
    }

    /// Waits until every directory handed over is removed; the first failure.
    fn finish(&mut self) -> Result<(), RealiseError> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(RealiseError::Cleanup {
                path: PathBuf::from("(scratch directories)"),
                source: io::Error::other("the cleaning thread panicked"),
            }),
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        // An early return: still do not leave the thread removing behind our back.
        let _ = self.finish();
    }
}

impl<'a> DrvJob<'a> {
    fn new(
        store: &'a LocalStore,
        opts: &RealiseOptions,
        builtins: &'a Builtins,
        roots: &'a TempRoots<'a>,
        check: bool,
    ) -> Result<Self, RealiseError> {
        let mut sandbox_config = opts.sandbox.clone();
        sandbox_config.store_dir = PathBuf::from(store.store_dir().as_str());
        let sandbox = Sandbox::new(sandbox_config).map_err(RealiseError::Sandbox)?;
        let builds = store.state_dir().join("builds");
        let logs = store.state_dir().join("log/drvs");
        for dir in [&builds, &logs] {
            fs::create_dir_all(dir).map_err(|source| RealiseError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(DrvJob {
            store,
            sandbox,
            builtins,
            builds,
            counter: AtomicUsize::new(0),
            roots,
            check,
            cleaner: Cleaner::new(),
            pending: Mutex::new(HashMap::new()),
            // A check rebuilds here, to compare with what is valid here.
            builders_use_substitutes: opts.builders_use_substitutes,
            // -j0 alone: nothing may build here, as in Nix (a build then
            // fails naming it; what is valid or substituted is fine).
            builders: match (check, opts.builders.is_empty() && opts.schedule.jobs > 0) {
                (false, false) => Some(
                    crate::remote::Builders::new(opts.builders.clone(), opts.schedule.jobs)
                        .map_err(|source| RealiseError::CreateDir {
                            path: std::env::temp_dir(),
                            source,
                        })?,
                ),
                _ => None,
            },
        })
    }

    /// The scheduler's settings: with remote machines, as many jobs at once
    /// as there are local and remote slots.
    fn schedule_options(&self, opts: &ScheduleOptions) -> ScheduleOptions {
        match &self.builders {
            Some(b) => ScheduleOptions {
                jobs: b.total_slots().max(1),
                ..opts.clone()
            },
            None => opts.clone(),
        }
    }

    fn store_err(
        &self,
        what: &'static str,
        node: &DrvNode,
    ) -> impl FnOnce(b8g_store::local::Error) -> BuildError {
        let drv = self.store.print_path(&node.path);
        move |source| BuildError::Store {
            what,
            drv,
            source: Box::new(source),
        }
    }

    /// The closure of `paths`, with the references of outputs still being
    /// registered taken from [`Self::pending`].
    fn closure(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, b8g_store::local::Error> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<StorePath> = paths.iter().cloned().collect();
        while let Some(p) = queue.pop() {
            if seen.contains(&p) {
                continue;
            }
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&p)
                .map(|x| x.references.clone());
            let refs = match pending {
                Some(refs) => refs,
                // Registered before it left the table, if it was pending.
                None => self.store.references(&p)?,
            };
            queue.extend(refs.into_iter().filter(|r| !seen.contains(r)));
            seen.insert(p);
        }
        Ok(seen)
    }

    /// Lists outputs (prepared, not yet registered) for dependents to build on.
    fn announce(&self, infos: &[b8g_store::local::PathInfo]) -> Announced<'_> {
        let mut table = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = infos
            .iter()
            .map(|i| {
                let p = Arc::new(Pending {
                    references: i.references.clone(),
                    state: Mutex::new(None),
                    settled: Condvar::new(),
                });
                table.insert(i.path.clone(), p.clone());
                (i.path.clone(), p)
            })
            .collect();
        Announced {
            job: self,
            outputs,
            settled: false,
        }
    }

    /// Waits until every input that was still being registered when this
    /// build started is valid; fails if one of them could not be registered.
    fn wait_for_inputs(
        &self,
        node: &DrvNode,
        inputs: &BTreeSet<StorePath>,
    ) -> Result<(), BuildError> {
        let waits: Vec<(StorePath, Arc<Pending>)> = {
            let table = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            inputs
                .iter()
                .filter_map(|p| table.get(p).map(|x| (p.clone(), x.clone())))
                .collect()
        };
        for (path, p) in waits {
            let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
            while state.is_none() {
                state = p.settled.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if *state == Some(false) {
                return Err(BuildError::InputNotRegistered {
                    drv: self.store.print_path(&node.path),
                    input: self.store.print_path(&path),
                });
            }
        }
        Ok(())
    }

    /// Opens the derivation's log file, truncating an older one.
    fn open_log(&self, node: &DrvNode) -> Result<fs::File, BuildError> {
        let path = log_path(self.store, &node.path);
        let io = |what| {
            let path = path.clone();
            move |source| BuildError::Io { what, path, source }
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("create log directory"))?;
        }
        fs::File::create(&path).map_err(io("create log"))
    }

    /// Runs the builder into `scratch`; returns where each output was made.
    fn run_builder(
        &self,
        node: &DrvNode,
        scratch: &Path,
        ctx: &JobContext<'_>,
    ) -> Result<(BTreeMap<String, PathBuf>, BTreeSet<StorePath>), BuildError> {
        let store = self.store;
        let drv_name = store.print_path(&node.path);
        let closure = self
            .closure(&node.inputs)
            .map_err(self.store_err("compute input closure", node))?;
        // Inputs and outputs stay safe from GC while we build; each path is
        // rooted once per realisation, however many builds use it.
        // (Planning rooted the direct inputs already; their closures are kept
        // with them, this roots them on their own as well.)
        for p in closure.iter().chain(node.outputs.values()) {
            self.roots
                .add(p)
                .map_err(self.store_err("add temporary root", node))?;
        }

        let mut file = self.open_log(node)?;
        let built: BTreeMap<String, PathBuf> = if node.drv.builder.starts_with("builtin:") {
            use std::io::Write;
            // In-process builders print nothing; the log says who built it.
            let _ = writeln!(file, "built in-process by {}", node.drv.builder);
            self.build_builtin(node, scratch, &closure)?
        } else {
            if node.drv.system != HOST_SYSTEM {
                return Err(BuildError::WrongSystem {
                    drv: drv_name,
                    system: node.drv.system.clone(),
                    host: HOST_SYSTEM,
                });
            }
            let spec = BuildSpec {
                name: drv_name.clone(),
                builder: PathBuf::from(&node.drv.builder),
                args: node.drv.args.clone(),
                env: node.drv.env.clone(),
                inputs: closure
                    .iter()
                    .map(|p| {
                        BindMount::new(
                            store.real_path(p),
                            Path::new(store.store_dir().as_str()).join(p.to_string()),
                        )
                    })
                    .collect(),
                outputs: node
                    .outputs
                    .iter()
                    .map(|(name, p)| (name.clone(), PathBuf::from(store.print_path(p))))
                    .collect(),
                network: node.drv.is_fixed_output(),
            };
            let mut log = FileLog::new(Some(file), |line: &str| ctx.log_line(line));
            self.sandbox
                .run(&spec, scratch, &mut log, ctx.cancel())?
                .outputs
        };
        Ok((built, closure))
    }

    fn build_in(
        &self,
        node: &DrvNode,
        scratch: &Path,
        ctx: &JobContext<'_>,
    ) -> Result<(), BuildError> {
        if self.check {
            return self.check_in(node, scratch, ctx);
        }
        let store = self.store;
        let (built, closure) = self.run_builder(node, scratch, ctx)?;

        // Copied into fresh inodes, canonical and checked, under temporary
        // names; only then moved to their final names (replacing leftovers
        // of an interrupted build: we hold the outputs' locks and is_done
        // said they are not valid).
        let staged = outputs::stage_outputs(store, node, scratch, &built, Path::to_path_buf)?;
        for copy in staged.into_values() {
            copy.install()
                .map_err(self.store_err("move output into the store", node))?;
        }
        let inputs = closure.clone();
        let mut candidates = closure;
        candidates.extend(node.outputs.values().cloned());
        // Outputs referring to each other in a cycle are refused (as Nix does).
        self.registration_order(node, &candidates)?;
        let outs: Vec<(String, StorePath)> = node
            .outputs
            .iter()
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        let prepared = store
            .prepare_build_outputs(&node.path, &outs, &candidates)
            .map_err(self.store_err("register outputs", node))?;
        let prepared = if node.from_store {
            prepared
        } else {
            prepared.without_mapping()
        };
        // The outputs are complete and their references known: dependents
        // may build on them while they are flushed and registered. Each
        // dependent waits for them before its own registration (below), so
        // a valid path never refers to an invalid one.
        let pending = self.announce(prepared.infos());
        ctx.release_dependents();
        self.wait_for_inputs(node, &inputs)?;
        // All outputs and the derivation's output mapping in one durable
        // transaction: a chain of builds waits for one commit per build.
        let committed = store
            .commit_built(prepared)
            .map_err(self.store_err("register outputs", node));
        pending.settle(committed.is_ok());
        committed?;
        Ok(())
    }

    /// `--check`: rebuilds and compares each output with the valid one by
    /// NAR hash; a differing rebuild is kept at `<output>.check`.
    fn check_in(
        &self,
        node: &DrvNode,
        scratch: &Path,
        ctx: &JobContext<'_>,
    ) -> Result<(), BuildError> {
        let store = self.store;
        let mut infos = BTreeMap::new();
        for (name, p) in &node.outputs {
            let info = store
                .path_info(p)
                .map_err(self.store_err("query output", node))?
                .ok_or_else(|| BuildError::CheckInvalid {
                    drv: store.print_path(&node.path),
                })?;
            infos.insert(name.clone(), info);
        }
        let (built, _) = self.run_builder(node, scratch, ctx)?;
        // Compared as copies (canonical, ours), kept as `<output>.check` when they differ.
        let check_path = |real: &Path| {
            let mut kept = real.to_owned().into_os_string();
            kept.push(".check");
            PathBuf::from(kept)
        };
        let staged = outputs::stage_outputs(store, node, scratch, &built, check_path)?;
        for (name, copy) in staged {
            let rebuilt = copy.path();
            let (hash, _) =
                b8g_store::nar_fs::hash_path(rebuilt, HashAlgo::Sha256).map_err(|e| {
                    BuildError::Io {
                        what: "hash rebuilt output",
                        path: rebuilt.to_owned(),
                        source: io::Error::other(e.to_string()),
                    }
                })?;
            if hash == infos[&name].nar_hash {
                continue;
            }
            let p = &node.outputs[&name];
            let differences = diff_trees(&store.real_path(p), rebuilt);
            copy.install()
                .map_err(self.store_err("keep the rebuilt output", node))?;
            return Err(BuildError::NotDeterministic {
                drv: store.print_path(&node.path),
                output: store.print_path(p),
                differences,
            });
        }
        Ok(())
    }

    /// Outputs in an order where an output that another refers to comes
    /// first; fails when they refer to each other in a cycle.
    fn registration_order<'n>(
        &self,
        node: &'n DrvNode,
        candidates: &BTreeSet<StorePath>,
    ) -> Result<Vec<&'n StorePath>, BuildError> {
        if node.outputs.len() == 1 {
            return Ok(node.outputs.values().collect());
        }
        let own: BTreeSet<StorePath> = node.outputs.values().cloned().collect();
        let mut refs: BTreeMap<&StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for p in node.outputs.values() {
            let found = self
                .store
                .scan_references(&self.store.real_path(p), candidates)
                .map_err(self.store_err("scan references", node))?;
            refs.insert(
                p,
                found
                    .intersection(&own)
                    .filter(|r| *r != p)
                    .cloned()
                    .collect(),
            );
        }
        let mut order = Vec::new();
        let mut placed: BTreeSet<StorePath> = BTreeSet::new();
        while order.len() < refs.len() {
            let next = refs
                .iter()
                .find(|(p, r)| !placed.contains(**p) && r.iter().all(|x| placed.contains(x)));
            match next {
                Some((p, _)) => {
                    placed.insert((*p).clone());
                    order.push(*p);
                }
                // A cycle between outputs: Nix refuses these too.
                None => {
                    return Err(BuildError::Io {
                        what: "outputs refer to each other in a cycle",
                        path: self.store.real_path(&node.path),
                        source: io::Error::other("cycle"),
                    })
                }
            }
        }
        Ok(order)
    }

    fn build_builtin(
        &self,
        node: &DrvNode,
        scratch: &Path,
        closure: &BTreeSet<StorePath>,
    ) -> Result<BTreeMap<String, PathBuf>, BuildError> {
        let staging = scratch.join("store");
        // Only we look inside: outputs take their modes from the builder, and
        // a world-readable staging tree would show them before they are valid.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&staging)
            .map_err(|source| BuildError::Io {
                what: "create scratch directory",
                path: staging.clone(),
                source,
            })?;
        let outputs: BTreeMap<String, PathBuf> = node
            .outputs
            .iter()
            .map(|(n, p)| (n.clone(), staging.join(p.to_string())))
            .collect();
        let store = self.store;
        let builtin_err = |source| BuildError::Builtin {
            drv: store.print_path(&node.path),
            source,
        };
        // A builtin reads only its input closure, as a sandboxed builder sees it.
        let inputs = StoreInputs::new(
            store.real_store_dir(),
            store.store_dir().as_str(),
            closure.iter().map(|p| p.to_string()),
        )
        .map_err(builtin_err)?;
        let cx = BuiltinContext {
            env: &node.drv.env,
            outputs: &outputs,
            inputs: &inputs,
        };
        self.builtins
            .build(&node.drv.builder, &cx)
            .map_err(builtin_err)?;
        for (name, p) in &outputs {
            if fs::symlink_metadata(p).is_err() {
                return Err(BuildError::Sandbox(SandboxError::MissingOutput {
                    name: store.print_path(&node.path),
                    output: name.clone(),
                    path: p.clone(),
                }));
            }
        }
        Ok(outputs)
    }
}

impl Job for DrvJob<'_> {
    type Node = DrvNode;
    type Error = BuildError;

    fn label(&self, node: &DrvNode) -> String {
        node.drv
            .name()
            .map_or_else(|| node.path.to_string(), str::to_owned)
    }

    fn describe(&self, node: &DrvNode) -> String {
        self.store.print_path(&node.path)
    }

    fn lock_files(&self, node: &DrvNode) -> Vec<PathBuf> {
        // The store's own per-path lock files, so that other b8g processes
        // (and the garbage collector) see our locks.
        node.outputs
            .values()
            .map(|p| {
                self.store
                    .state_dir()
                    .join("locks")
                    .join(format!("{}.lock", p.hash_part()))
            })
            .collect()
    }

    fn is_done(&self, node: &DrvNode) -> Result<bool, BuildError> {
        if self.check {
            return Ok(false);
        }
        for p in node.outputs.values() {
            if !self
                .store
                .is_valid(p)
                .map_err(self.store_err("check output validity", node))?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn build(&self, node: &DrvNode, ctx: &JobContext<'_>) -> Result<(), BuildError> {
        match &self.builders {
            Some(b) => self.build_anywhere(b, node, ctx),
            None => self.build_here(node, ctx),
        }
    }

    fn lock_error(&self, _node: &DrvNode, error: LockError) -> BuildError {
        error.into()
    }
}

impl DrvJob<'_> {
    /// Builds `node` on this machine.
    fn build_here(&self, node: &DrvNode, ctx: &JobContext<'_>) -> Result<(), BuildError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let scratch = self.builds.join(format!(
            "{}-{}-{n}",
            node.path.hash_part(),
            std::process::id()
        ));
        // A previous process with our pid may have left it behind.
        remove_tree(&scratch).map_err(|source| BuildError::Io {
            what: "remove stale scratch directory",
            path: scratch.clone(),
            source,
        })?;
        let result = self.build_in(node, &scratch, ctx);
        // The outputs are out of it (or the build failed): nothing waits for
        // its removal.
        let cleanup = self.cleaner.remove(scratch);
        result?;
        cleanup
    }
}
