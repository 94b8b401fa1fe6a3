//! `b8g-build FILE FILE…`: several files (system configurations or
//! expressions of derivations) instantiated at once, each on its own thread
//! with its own evaluator and store handle, so that the caller can realise
//! every derivation in one run.
//!
//! What comes out is what evaluating the files one after the other gives:
//! - each file's derivations, in the order of the files, and the error of
//!   the first file that failed (files after it are interrupted at their next
//!   call, and what they gave is dropped);
//! - each file's traces and warnings in the order of the files: the earliest
//!   unfinished file's are printed as they come, a later file's are held
//!   until every file before it has finished, and dropped if one failed.
//!
//! Evaluations share nothing but the store; its writes (`.drv` files,
//! sources) are the ones a sequential run makes, plus whatever files after
//! a failure wrote before they were interrupted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use b8g_builder::glue::{EvalSession, MessageSink};
use b8g_store::local::{LocalStore, StoreConfig};

use crate::build::{self, SystemBuildError, SystemBuildOptions};
use crate::file::{instantiate_file, FileEval, FileKind, Source};

/// One FILE: how to evaluate it, and how to build it if it is a system configuration.
#[derive(Debug, Clone)]
pub struct Target {
    pub what: FileEval,
    /// How to build the file if it is a system configuration (its `config`
    /// is the file); `None` when the caller could not settle that (no
    /// recipes), which is an error only for a file that is one.
    pub system: Option<SystemBuildOptions>,
    /// Show evaluation errors with their whole trace.
    pub show_trace: bool,
}

/// What a target gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instantiated {
    /// Whether the file was a system configuration (its one `.drv` is the system's).
    pub system: bool,
    /// The `.drv` paths written to the store, each with the output wanted (see
    /// [`FileKind::Derivations`]; a system's is `out`).
    pub drvs: Vec<(String, String)>,
}

/// Instantiates every target, up to `threads` at a time, sending trace and
/// warning lines to `print` in the order a sequential run prints them.
/// Returns the results in order, up to and including the first failure.
pub fn instantiate_targets(
    config: &StoreConfig,
    targets: &[Target],
    threads: usize,
    print: impl Fn(&str) + Send + Sync + 'static,
) -> Vec<Result<Instantiated, SystemBuildError>> {
    let order = Arc::new(Mutex::new(Order {
        current: 0,
        held: vec![Vec::new(); targets.len()],
        done: vec![None; targets.len()],
        stopped: false,
        print: Box::new(print),
    }));
    let stops: Vec<Arc<AtomicBool>> = targets.iter().map(|_| Arc::default()).collect();
    let next = AtomicUsize::new(0);
    // The index of the first failure so far: targets after it are not started.
    let first_failure = AtomicUsize::new(usize::MAX);
    let slots: Vec<Mutex<Option<Result<Instantiated, SystemBuildError>>>> =
        targets.iter().map(|_| Mutex::new(None)).collect();
    let worker = || loop {
        let i = next.fetch_add(1, SeqCst);
        if i >= targets.len() || i > first_failure.load(SeqCst) {
            break;
        }
        let sink: MessageSink = {
            let order = Arc::clone(&order);
            Arc::new(move |line: String| lock(&order).message(i, line))
        };
        let r = instantiate_target(config, &targets[i], &stops[i], sink);
        if r.is_err() {
            first_failure.fetch_min(i, SeqCst);
            for stop in &stops[i + 1..] {
                stop.store(true, SeqCst);
            }
        }
        let failed = r.is_err();
        *lock(&slots[i]) = Some(r);
        lock(&order).finished(i, failed);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.clamp(1, targets.len().max(1)) {
            scope.spawn(worker);
        }
        worker();
    });
    // Every target up to the first failure was started, and the scope
    // joined its thread: those slots are filled.
    let mut results: Vec<_> = slots
        .into_iter()
        .map_while(|slot| slot.into_inner().ok().flatten())
        .collect();
    if let Some(failed) = results.iter().position(Result::is_err) {
        results.truncate(failed + 1);
    }
    results
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The order messages are printed in: `current` is the earliest target that
/// has not finished; its lines go out at once, later targets' are held until
/// it is their turn, and nothing is printed after a failed target.
struct Order {
    current: usize,
    held: Vec<Vec<String>>,
    /// `Some(failed)` once a target has finished.
    done: Vec<Option<bool>>,
    stopped: bool,
    print: Box<dyn Fn(&str) + Send + Sync>,
}

impl Order {
    fn message(&mut self, target: usize, line: String) {
        if self.stopped || target < self.current {
            return;
        }
        if target == self.current {
            (self.print)(&line);
        } else {
            self.held[target].push(line);
        }
    }

    fn finished(&mut self, target: usize, failed: bool) {
        self.done[target] = Some(failed);
        while !self.stopped {
            match self.done.get(self.current) {
                Some(Some(true)) => self.stopped = true,
                Some(Some(false)) => {
                    self.current += 1;
                    if let Some(held) = self.held.get_mut(self.current) {
                        for line in std::mem::take(held) {
                            (self.print)(&line);
                        }
                    }
                }
                _ => break,
            }
        }
    }
}

/// One file, as `b8g-build FILE` instantiates it.
fn instantiate_target(
    config: &StoreConfig,
    t: &Target,
    stop: &Arc<AtomicBool>,
    sink: MessageSink,
) -> Result<Instantiated, SystemBuildError> {
    let session = EvalSession::writing(LocalStore::open(config)?)
        .hide_trace()
        .show_trace(t.show_trace)
        .interrupt(Arc::clone(stop))
        .messages(Arc::clone(&sink));
    match instantiate_file(session, t.what.clone())? {
        FileKind::Derivations(drvs) => Ok(Instantiated {
            system: false,
            drvs,
        }),
        FileKind::System => {
            let file = || match &t.what.source {
                Source::File(f) => f.clone(),
                Source::Lookup(name) => PathBuf::from(name),
                Source::Expr(_) => PathBuf::from("(expression)"),
            };
            if t.what.attrs.len() > 1 {
                return Err(SystemBuildError::SeveralAttrs(file()));
            }
            let Some(opts) = &t.system else {
                return Err(SystemBuildError::NoSystemSettings(file()));
            };
            let drv = build::instantiate_with(LocalStore::open(config)?, opts, |s| {
                s.interrupt(Arc::clone(stop)).messages(sink)
            })?;
            Ok(Instantiated {
                system: true,
                drvs: vec![(drv, "out".into())],
            })
        }
    }
}
