//! `b8g-build FILE FILE…`: several files (system configurations or
//! expressions of derivations) instantiated at once, each on its own thread
//! with its own evaluator and store handle, so that the caller can realise
//! every derivation in one run.
//!
//! What comes out is what evaluating the files one after the other gives:
//! each file's derivations, in the order of the files, and the error of the
//! first file that failed (a later file's failure is not reported, as a
//! sequential run would not have reached it). Evaluations share nothing but
//! the store; its writes (`.drv` files, sources) are the ones a sequential run
//! makes, plus those of files after a failure.

use b8g_builder::glue::EvalSession;
use b8g_store::local::{LocalStore, StoreConfig};

use crate::build::{self, SystemBuildError, SystemBuildOptions};
use crate::file::{instantiate_file, FileEval, FileKind};

/// One FILE: how to evaluate it, and how to build it if it is a system configuration.
#[derive(Debug, Clone)]
pub struct Target {
    pub what: FileEval,
    /// Used when the file is a system configuration (its `config` is the file).
    pub system: SystemBuildOptions,
}

/// What a target gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instantiated {
    /// Whether the file was a system configuration (its one `.drv` is the system's).
    pub system: bool,
    /// The `.drv` paths written to the store.
    pub drvs: Vec<String>,
}

/// Instantiates every target, up to `threads` at a time. Returns the results
/// in order, up to and including the first failure.
pub fn instantiate_targets(
    config: &StoreConfig,
    targets: &[Target],
    threads: usize,
) -> Vec<Result<Instantiated, SystemBuildError>> {
    let one = |t: &Target| instantiate_target(config, t);
    let mut results: Vec<Result<Instantiated, SystemBuildError>> = if threads <= 1 {
        // One at a time, stopping at the first failure as nix-build does.
        let mut out = Vec::new();
        for t in targets {
            let r = one(t);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        out
    } else {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let next = AtomicUsize::new(0);
        // The index of the first failure so far: targets after it are not started.
        let first_failure = AtomicUsize::new(usize::MAX);
        let slots: Vec<std::sync::Mutex<Option<_>>> = targets
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|scope| {
            for _ in 0..threads.min(targets.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, SeqCst);
                    if i >= targets.len() || i > first_failure.load(SeqCst) {
                        break;
                    }
                    let r = one(&targets[i]);
                    if r.is_err() {
                        first_failure.fetch_min(i, SeqCst);
                    }
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                });
            }
        });
        // Every target up to the first failure was started, and the scope
        // joined its thread: those slots are filled.
        slots
            .into_iter()
            .map_while(|slot| slot.into_inner().ok().flatten())
            .collect()
    };
    if let Some(failed) = results.iter().position(Result::is_err) {
        results.truncate(failed + 1);
    }
    results
}

/// One file, as `b8g-build FILE` instantiates it.
fn instantiate_target(config: &StoreConfig, t: &Target) -> Result<Instantiated, SystemBuildError> {
    let session = EvalSession::writing(LocalStore::open(config)?)
        .hide_trace()
        .show_trace(t.system.show_trace);
    match instantiate_file(session, t.what.clone())? {
        FileKind::Derivations(drvs) => Ok(Instantiated {
            system: false,
            drvs,
        }),
        FileKind::System => Ok(Instantiated {
            system: true,
            drvs: vec![build::instantiate(LocalStore::open(config)?, &t.system)?],
        }),
    }
}
