//! Building one derivation that arrives without its input derivations, as a
//! remote builder receives it (`BuildDerivation` of the serve protocol, Nix's
//! `BasicDerivation`): the outputs of its inputs are among its input sources,
//! already valid here.

use std::collections::{BTreeMap, BTreeSet};

use b8g_store::format::derivation::Derivation;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

use super::roots::TempRoots;
use super::{drv_check, failed, parse, root_err, DrvJob, DrvNode, RealiseError, RealiseOptions};
use crate::builtin::Builtins;
use crate::sandbox::CancelToken;
use crate::schedule::{self, Dag, Progress};

/// Builds `drv`, named `drv_path` (which need not be valid here), unless its
/// outputs are valid already, and returns them with what the run did.
///
/// Fixed-output derivations have their output paths checked against their
/// hash; input-addressed ones cannot be (the hash their paths come from
/// covers the input derivations, which were not sent), so their client must
/// be trusted to name them honestly, as Nix trusts `nix-store --serve --write`.
pub fn realise_basic(
    store: &LocalStore,
    drv_path: &StorePath,
    drv: Derivation,
    opts: &RealiseOptions,
    builtins: &Builtins,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<(BTreeMap<String, StorePath>, schedule::Summary), RealiseError> {
    let shown = store.print_path(drv_path);
    let bad = |reason: String| RealiseError::ReadDerivation {
        path: shown.clone().into(),
        reason,
    };
    if !drv.input_drvs.is_empty() {
        return Err(bad(
            "a derivation sent to build must carry no input derivations".into(),
        ));
    }
    if drv.is_fixed_output() {
        drv_check::check_outputs(store, &drv).map_err(|e| bad(e.to_string()))?;
    } else {
        for (name, out) in &drv.outputs {
            if drv.env.get(name) != Some(&out.path) {
                return Err(bad(format!(
                    "environment variable {name:?} does not name output path {}",
                    out.path
                )));
            }
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, out) in &drv.outputs {
        outputs.insert(name.clone(), parse(store, drv_path, &out.path)?);
    }
    let mut inputs = BTreeSet::new();
    for src in &drv.input_srcs {
        inputs.insert(parse(store, drv_path, src)?);
    }
    let temp_roots = TempRoots::new(store);
    for p in outputs.values().chain(&inputs) {
        temp_roots.add(p).map_err(root_err(store, p))?;
    }
    for p in &inputs {
        if !super::is_valid(store, p)? {
            return Err(RealiseError::MissingInput {
                drv: shown,
                path: store.print_path(p),
            });
        }
    }
    let mut dag: Dag<DrvNode> = Dag::new();
    dag.add(
        DrvNode {
            path: drv_path.clone(),
            drv,
            outputs: outputs.clone(),
            inputs,
            from_store: false,
        },
        &[],
    )
    .expect("one node has no dependencies");
    let mut job = DrvJob::new(store, opts, builtins, &temp_roots, false)?;
    let report = schedule::run(&dag, &job, &opts.schedule, progress, cancel);
    let cleaned = job.cleaner.finish();
    let summary = report.summary();
    if !report.is_success() {
        return Err(failed(store, &dag, report.outcomes, summary));
    }
    cleaned?;
    Ok((outputs, summary))
}
