//! Where each pinned seed can still be had (`b8g bootstrap lock --check`).
//!
//! A pin is a reproducibility record: name, version and sha256. The file it
//! names is the output of a fixed-output derivation, so the realiser finds it,
//! in this order, in the local store, in a configured binary cache (any cache
//! that ever held the seed serves it: the path depends only on name and hash),
//! in Debian's archive (`apt-get download`), and in Debian's snapshot service.
//! This module asks each source without fetching anything and reports, per
//! pin, which of them have it and — when the archive no longer does — what the
//! archive offers instead. It decides nothing: callers (the CLI, `cargo xtask`)
//! choose which sources count for them.

use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::store_path::{FileIngestionMethod, StoreDir, StorePath};
use b8g_store::local::LocalStore;
use serde::Serialize;

use super::pins::{LockError, Pin, PinKind, PinResolver};
use super::snapshot::DebianSnapshot;
use crate::realise::Substituters;

/// One source of a pinned file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PinSource {
    /// Valid in the local store already.
    Store,
    /// A configured cache has it, signed by a trusted key.
    Cache { url: String },
    /// Debian's archive serves this exact version and hash.
    Archive,
    /// The configured snapshot service lists this version.
    Snapshot { url: String },
}

/// What the sources say of one pin.
#[derive(Debug, Clone, Serialize)]
pub struct PinStatus {
    pub name: String,
    pub package: String,
    pub version: String,
    /// The fixed-output store path that holds the file.
    pub path: String,
    pub sources: Vec<PinSource>,
    /// The archive's current version, when the archive no longer serves the pin.
    pub archive_offers: Option<String>,
}

impl PinStatus {
    /// Whether the archive itself still serves the pin.
    pub fn in_archive(&self) -> bool {
        self.sources.contains(&PinSource::Archive)
    }
}

/// The sources to ask besides the archive (each optional).
#[derive(Default)]
pub struct OtherSources<'a> {
    pub store: Option<&'a LocalStore>,
    pub caches: Option<&'a Substituters>,
    pub snapshot: Option<&'a DebianSnapshot>,
}

/// Why a pin's store path could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PinCheckError {
    #[error("pin {name}: {msg}")]
    BadPin { name: String, msg: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("store: {0}")]
    Store(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The committed lock in a `recipes/bootstrap` directory.
pub const LOCK_FILE: &str = "pins.nix";
/// Its local, untracked override (`b8g bootstrap lock --override`).
pub const OVERRIDE_FILE: &str = "pins.override.nix";

/// The fixed-output store paths of every seed the lock in `bootstrap_dir`
/// pins: those of `pins.nix` and, when there is one, of `pins.override.nix`
/// (a pin it replaces is kept too: Debian may serve neither any more, and the
/// store may hold the only copy). Sorted, without repeats.
pub fn lock_seed_paths(
    bootstrap_dir: &std::path::Path,
    store_dir: &StoreDir,
) -> Result<Vec<StorePath>, PinCheckError> {
    let mut out = std::collections::BTreeSet::new();
    for (name, required) in [(LOCK_FILE, true), (OVERRIDE_FILE, false)] {
        let path = bootstrap_dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(PinCheckError::Read { path, source }),
        };
        for pin in super::pins::parse_pins(&text)? {
            out.insert(pin_path(store_dir, &pin)?);
        }
    }
    Ok(out.into_iter().collect())
}

/// The fixed-output path of `pin`'s file in a store at `store_dir`.
pub fn pin_path(store_dir: &StoreDir, pin: &Pin) -> Result<StorePath, PinCheckError> {
    let bad = |msg: String| PinCheckError::BadPin {
        name: pin.name.clone(),
        msg,
    };
    let hash =
        Hash::parse_any(&pin.sha256, Some(HashAlgo::Sha256)).map_err(|e| bad(e.to_string()))?;
    store_dir
        .make_fixed_output_path(&pin.store_name(), FileIngestionMethod::Flat, &hash, &[])
        .map_err(|e| bad(e.to_string()))
}

/// Asks every source about every pin, for a store at `store_dir`.
pub fn check_pins(
    pins: &[Pin],
    store_dir: &StoreDir,
    archive: &dyn PinResolver,
    other: &OtherSources<'_>,
) -> Result<Vec<PinStatus>, PinCheckError> {
    let paths: Vec<StorePath> = pins
        .iter()
        .map(|p| pin_path(store_dir, p))
        .collect::<Result<_, _>>()?;
    let in_caches = other
        .caches
        .map(|c| c.which_have(store_dir, &paths))
        .unwrap_or_default();
    let mut out = Vec::new();
    for (pin, path) in pins.iter().zip(&paths) {
        let mut sources = Vec::new();
        if let Some(s) = other.store {
            if s.is_valid(path)
                .map_err(|e| PinCheckError::Store(e.to_string()))?
            {
                sources.push(PinSource::Store);
            }
        }
        if let Some(url) = in_caches.get(path) {
            sources.push(PinSource::Cache { url: url.clone() });
        }
        let served = archive.serves(pin)?;
        if served {
            sources.push(PinSource::Archive);
        }
        if let (Some(snap), PinKind::Binary { package }) = (other.snapshot, &pin.kind) {
            if snap.locate(package, &pin.version).is_ok() {
                sources.push(PinSource::Snapshot {
                    url: snap.base().to_owned(),
                });
            }
        }
        let archive_offers = if served {
            None
        } else {
            let current = match &pin.kind {
                PinKind::Binary { package } => archive.binary(package),
                PinKind::Source { source, file } => archive.source(source, file),
            };
            current.ok().map(|r| r.version)
        };
        out.push(PinStatus {
            name: pin.name.clone(),
            package: pin.package().to_owned(),
            version: pin.version.clone(),
            path: store_dir.display(path),
            sources,
            archive_offers,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  busybox-static = {
    package = "busybox-static";
    version = "1:1.35.0-4";
    sha256 = "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744";
  };
  hello-src = {
    source = "hello";
    version = "2.10-3";
    file = "hello_2.10.orig.tar.gz";
    sha256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
  };
}
"#;

    /// The seeds `b8g store gc` keeps: every pin of the lock and of its
    /// override, the replaced pin included.
    #[test]
    fn the_seeds_of_a_lock_are_its_pins_and_its_overrides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store_dir = StoreDir::default();
        std::fs::write(dir.path().join(LOCK_FILE), LOCK).expect("lock");
        let paths = lock_seed_paths(dir.path(), &store_dir).expect("seeds");
        let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
        assert_eq!(paths.len(), 2, "{names:?}");
        assert!(names.contains(&"busybox-static.deb") && names.contains(&"hello_2.10.orig.tar.gz"));
        let pins = crate::builtin::pins::parse_pins(LOCK).expect("parse");
        assert!(paths.contains(&pin_path(&store_dir, &pins[0]).expect("path")));

        let newer = LOCK.replace(
            "3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744",
            "0000000000000000000000000000000000000000000000000000000000000000",
        );
        std::fs::write(dir.path().join(OVERRIDE_FILE), newer).expect("override");
        assert_eq!(
            lock_seed_paths(dir.path(), &store_dir)
                .expect("seeds")
                .len(),
            3
        );

        let none = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            lock_seed_paths(none.path(), &store_dir),
            Err(PinCheckError::Read { .. })
        ));
    }
}
