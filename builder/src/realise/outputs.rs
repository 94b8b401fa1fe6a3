//! Taking a build's outputs out of its scratch directory: each output is
//! brought under a temporary name in the store directory, given to us and
//! made canonical (read-only, mtime 1) there, and checked against its declared
//! hash (fixed-output derivations), before anything appears at its final name.
//!
//! Outputs of fixed-output builds are copied into fresh inodes: those builds
//! share the host's network, so they may have handed a descriptor of their
//! output to a host process (over an abstract Unix socket), which must not
//! reach a registered path. Other outputs are moved: none of their build's
//! processes survive it and none could reach the host, and copying every file
//! anew costs several times more on trees of many small files (see
//! `b8g_store::local::Intake`).
//!
//! This module does not register anything.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use b8g_store::format::derivation::Derivation;
use b8g_store::format::hash::{Hash, HashAlgo, HashSink};
use b8g_store::local::{Intake, LocalStore, StagedOutput};

use super::{BuildError, DrvNode};

/// Stages every output of `node` built into `built` (paths below `scratch`),
/// each bound for `dest(output path)`; a fixed-output derivation's `out` is
/// checked against its declared hash on the copy.
pub(super) fn stage_outputs(
    store: &LocalStore,
    node: &DrvNode,
    scratch: &Path,
    built: &BTreeMap<String, PathBuf>,
    dest: impl Fn(&Path) -> PathBuf,
) -> Result<BTreeMap<String, StagedOutput>, BuildError> {
    let drv_name = store.print_path(&node.path);
    let intake = if node.drv.is_fixed_output() {
        Intake::Copy
    } else {
        Intake::Move
    };
    let mut staged = BTreeMap::new();
    for (name, p) in &node.outputs {
        let from = built.get(name).ok_or_else(|| BuildError::Io {
            what: "find built output",
            path: store.real_path(p),
            source: io::Error::other(format!("output {name} was not built")),
        })?;
        let rel = from.strip_prefix(scratch).map_err(|_| BuildError::Io {
            what: "find built output",
            path: from.clone(),
            source: io::Error::other("not in the scratch directory"),
        })?;
        let copy = store
            .stage_output(scratch, rel, &dest(&store.real_path(p)), intake)
            .map_err(|source| BuildError::Store {
                what: "copy output into the store",
                drv: drv_name.clone(),
                source: Box::new(source),
            })?;
        if node.drv.is_fixed_output() && name == "out" {
            check_fixed_output(&drv_name, &node.drv, copy.path())?;
        }
        staged.insert(name.clone(), copy);
    }
    Ok(staged)
}

/// Checks a fixed-output derivation's result against its declared hash.
fn check_fixed_output(drv_name: &str, drv: &Derivation, out: &Path) -> Result<(), BuildError> {
    let output = &drv.outputs["out"];
    let bad = |reason: String| BuildError::BadOutputHash {
        drv: drv_name.to_owned(),
        reason,
    };
    let (recursive, algo_name) = match output.hash_algo.strip_prefix("r:") {
        Some(a) => (true, a),
        None => (false, output.hash_algo.as_str()),
    };
    let algo: HashAlgo = algo_name
        .parse()
        .map_err(|_| bad(format!("unknown algorithm {algo_name:?}")))?;
    let specified = Hash::parse_unprefixed(&output.hash, algo).map_err(|e| bad(e.to_string()))?;
    let io_err = |what| {
        move |source| BuildError::Io {
            what,
            path: out.to_owned(),
            source,
        }
    };
    let got = if recursive {
        b8g_store::nar_fs::hash_path(out, algo)
            .map_err(|e| io_err("hash output")(io::Error::other(e.to_string())))?
            .0
    } else {
        let meta = fs::symlink_metadata(out).map_err(io_err("stat output"))?;
        // As Nix: the executable bit is not in a flat hash, so it must be off,
        // or two different NARs would hold the same content address.
        if !meta.is_file()
            || std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
        {
            return Err(bad(
                "a flat-hashed output must be a non-executable regular file".to_owned(),
            ));
        }
        let mut file = fs::File::open(out).map_err(io_err("open output"))?;
        let mut sink = HashSink::new(algo);
        io::copy(&mut file, &mut sink).map_err(io_err("hash output"))?;
        sink.finish().0
    };
    if got != specified {
        return Err(BuildError::HashMismatch {
            drv: drv_name.to_owned(),
            specified: specified.to_sri(),
            got: got.to_sri(),
        });
    }
    Ok(())
}
