//! A derivation read from the store must name the output paths its own
//! contents give (Nix's `checkInvariants`): output paths follow from the
//! derivation's hash modulo, or for fixed-output derivations from the fixed
//! hash, and each output's environment variable names the same path.
//!
//! Without this check a `.drv` written by hand (`builtins.toFile` plus a
//! context, or any file that ends in `.drv`) could claim the output path of
//! another derivation — or the path of another derivation's future `.drv` —
//! and a build of it would register attacker bytes there, which an honest
//! build would later find "already valid".

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use b8g_store::format::derivation::{Derivation, PathError};
use b8g_store::local::LocalStore;

/// Why a derivation's outputs cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum DrvCheckError {
    #[error("output {output:?} is {claimed}, but the derivation's contents give {expected}")]
    WrongOutputPath {
        output: String,
        claimed: String,
        expected: String,
    },
    #[error("environment variable {output:?} is {claimed:?}, not the output path {expected}")]
    WrongEnv {
        output: String,
        claimed: Option<String>,
        expected: String,
    },
    #[error("input derivation {path}: {reason}")]
    Input { path: String, reason: String },
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Hashes modulo of derivation files, by physical path. A `.drv` in the store
/// never changes while it is valid, so the memo holds for the process.
fn memo() -> &'static Mutex<HashMap<PathBuf, [u8; 32]>> {
    static MEMO: OnceLock<Mutex<HashMap<PathBuf, [u8; 32]>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// The hash modulo (outputs kept) of the derivation at `full` (a store path).
fn modulo_of(store: &LocalStore, full: &str) -> Result<[u8; 32], DrvCheckError> {
    let input = |reason: String| DrvCheckError::Input {
        path: full.to_owned(),
        reason,
    };
    let path = store.parse_path(full).map_err(|e| input(e.to_string()))?;
    let real = store.real_path(&path);
    if let Some(h) = memo().lock().unwrap_or_else(|e| e.into_inner()).get(&real) {
        return Ok(*h);
    }
    let text = std::fs::read(&real).map_err(|e| input(e.to_string()))?;
    let drv = Derivation::parse(&text).map_err(|e| input(e.to_string()))?;
    let h = drv.hash_modulo(false, &mut |p| modulo_of(store, p))?;
    memo()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(real, h);
    Ok(h)
}

/// Checks that `drv` (read from the store) names the output paths and
/// output variables its contents give.
pub(crate) fn check_outputs(store: &LocalStore, drv: &Derivation) -> Result<(), DrvCheckError> {
    let mut expected = drv.clone();
    expected.fill_output_paths(store.store_dir(), &mut |p| modulo_of(store, p))?;
    for (name, out) in &drv.outputs {
        let want = &expected.outputs[name].path;
        if &out.path != want {
            return Err(DrvCheckError::WrongOutputPath {
                output: name.clone(),
                claimed: out.path.clone(),
                expected: want.clone(),
            });
        }
        if drv.env.get(name) != Some(want) {
            return Err(DrvCheckError::WrongEnv {
                output: name.clone(),
                claimed: drv.env.get(name).cloned(),
                expected: want.clone(),
            });
        }
    }
    Ok(())
}
