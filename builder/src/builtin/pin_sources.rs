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
