//! The local on-disk store: SQLite metadata, atomic registration, closures,
//! garbage collection, verification and optimisation.
//!
//! A store has a *logical* store directory (`/b8g/store` by default, the
//! prefix every store path carries) and may live under a different physical
//! root (a "chroot store": with root `/tmp/x` the files of `/b8g/store/…` are
//! at `/tmp/x/b8g/store/…`), as Nix's `local?root=`. The state directory
//! (database, GC roots, locks) lives under the same root.
//!
//! Invariants kept by every operation here:
//! - a path registered as valid is complete on disk, canonical and durable;
//! - the references of a valid path are valid (the closure is complete);
//! - anything in the store directory that is not valid is garbage that GC and
//!   `verify --repair` may remove (unless a writer holds its path lock).
//!
//! This module does not parse NARs or compute store paths itself: it uses
//! [`crate::format`] and [`crate::nar_fs`].

mod add;
mod batch;
mod ca_check;
pub mod db;
mod error;
mod fsutil;
mod gc;
mod links;
pub mod lock;
mod optimise;
mod query;
pub mod refs;
mod registration;
mod runtime_roots;
mod stage;
mod verify;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use add::{BuiltPaths, NarExpectation};
pub use batch::ImportBatch;
pub use ca_check::ContentAddress;
pub use error::Error;
pub use gc::{GcOptions, GcReport, GcRoot, RootKind};
pub use optimise::OptimiseReport;
pub use stage::{Intake, StagedOutput};
pub use verify::{Problem, VerifyOptions, VerifyReport};

use crate::format::hash::{Encoding, Hash, HashAlgo};
use crate::format::store_path::{StoreDir, StorePath};
use db::{Db, DbPathInfo};
use error::io_err;
use lock::{GcLock, PathLock, TempRoots};

/// Default state directory (database, GC roots, locks).
pub const DEFAULT_STATE_DIR: &str = "/b8g/var/b8g";

/// Where a store lives.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The logical store directory all store paths start with.
    pub store_dir: StoreDir,
    /// The logical state directory.
    pub state_dir: PathBuf,
    /// Physical root the logical directories live under (`None`: `/`).
    pub root: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            store_dir: StoreDir::default(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            root: None,
        }
    }
}

impl StoreConfig {
    /// Whether a store was ever opened here (its database exists), so that a
    /// caller that only reads can leave a missing store uncreated.
    pub fn exists(&self) -> bool {
        under_root(self.root.as_deref(), &self.state_dir)
            .join("db/db.sqlite")
            .is_file()
    }
}

/// Metadata of a valid store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    /// SHA-256 of the NAR serialisation.
    pub nar_hash: Hash,
    pub nar_size: u64,
    /// Store paths this one refers to (may include itself).
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    /// Seconds since the epoch.
    pub registration_time: i64,
    /// `keyname:base64` signatures.
    pub signatures: Vec<String>,
    /// Content address, e.g. `fixed:r:sha256:<nix32>` or `text:sha256:<nix32>`.
    pub ca: Option<String>,
}

/// An open local store. `Sync`: share it between threads by reference.
pub struct LocalStore {
    store_dir: StoreDir,
    /// Physical store directory.
    real_store: PathBuf,
    /// Physical state directory.
    state: PathBuf,
    db: Mutex<Db>,
    temp_roots: TempRoots,
}

/// Joins a logical absolute path under a physical root.
fn under_root(root: Option<&Path>, logical: &Path) -> PathBuf {
    match root {
        None => logical.to_owned(),
        Some(root) => root.join(logical.strip_prefix("/").unwrap_or(logical)),
    }
}

impl LocalStore {
    /// Opens the store described by `config`, creating its directories and
    /// database when they do not exist yet.
    pub fn open(config: &StoreConfig) -> Result<Self, Error> {
        let root = config.root.as_deref();
        let real_store = under_root(root, Path::new(config.store_dir.as_str()));
        let state = under_root(root, &config.state_dir);
        for dir in [
            real_store.clone(),
            real_store.join(".links"),
            state.join("db"),
            state.join("gcroots"),
            state.join("temproots"),
            state.join("locks"),
        ] {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        let db = Db::open(&state.join("db").join("db.sqlite"))?;
        Ok(LocalStore {
            store_dir: config.store_dir.clone(),
            temp_roots: TempRoots::new(state.join("temproots")),
            real_store,
            state,
            db: Mutex::new(db),
        })
    }

    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// The physical directory holding the store's objects.
    pub fn real_store_dir(&self) -> &Path {
        &self.real_store
    }

    /// The physical state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The physical location of `path`.
    pub fn real_path(&self, path: &StorePath) -> PathBuf {
        self.real_store.join(path.to_string())
    }

    /// The full logical path `<store dir>/<hash>-<name>`.
    pub fn print_path(&self, path: &StorePath) -> String {
        self.store_dir.display(path)
    }

    /// Parses a full logical store path (no sub-path).
    pub fn parse_path(&self, full: &str) -> Result<StorePath, Error> {
        Ok(self.store_dir.parse_path(full)?)
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the connection cannot leave SQLite inconsistent
        // (transactions roll back on drop), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.state.join("gc.lock")
    }

    /// Takes the GC lock shared: hold it while writing into the store.
    pub fn lock_gc_shared(&self) -> Result<GcLock, Error> {
        GcLock::shared(&self.gc_lock_path())
    }

    /// Takes the GC lock exclusively: no writer and no GC run meanwhile.
    pub fn lock_gc_exclusive(&self) -> Result<GcLock, Error> {
        GcLock::exclusive(&self.gc_lock_path())
    }

    /// Locks `path` for writing (blocks). Builders hold this on an output
    /// while they build it in place; GC never deletes a locked invalid path.
    pub fn lock_path(&self, path: &StorePath) -> Result<PathLock, Error> {
        PathLock::acquire(&self.state.join("locks"), path.hash_part())
    }

    fn try_lock_path(&self, path: &StorePath) -> Result<Option<PathLock>, Error> {
        PathLock::try_acquire(&self.state.join("locks"), path.hash_part())
    }

    /// Protects `path` from GC for as long as this process lives.
    pub fn add_temp_root(&self, path: &StorePath) -> Result<(), Error> {
        let _gc = self.lock_gc_shared()?;
        self.temp_roots.add(&self.print_path(path))
    }

    /// Like [`add_temp_root`](Self::add_temp_root) when the caller already holds the GC lock.
    fn add_temp_root_locked(&self, path: &StorePath) -> Result<(), Error> {
        self.temp_roots.add(&self.print_path(path))
    }

    /// Whether `path` is registered as valid.
    pub fn is_valid(&self, path: &StorePath) -> Result<bool, Error> {
        Ok(self.db().is_valid(&self.print_path(path))?)
    }

    /// Registers paths whose contents are already complete and durable at
    /// their final location, in one transaction.
    fn register(&self, infos: &[PathInfo]) -> Result<(), Error> {
        let rows: Vec<DbPathInfo> = infos.iter().map(|i| self.info_to_db(i)).collect();
        self.db().register(&rows)?;
        Ok(())
    }

    fn info_to_db(&self, i: &PathInfo) -> DbPathInfo {
        DbPathInfo {
            path: self.print_path(&i.path),
            nar_hash: i.nar_hash.to_typed(Encoding::Base16),
            nar_size: i.nar_size,
            registration_time: i.registration_time,
            deriver: i.deriver.as_ref().map(|d| self.print_path(d)),
            ca: i.ca.clone(),
            signatures: i.signatures.clone(),
            references: i.references.iter().map(|r| self.print_path(r)).collect(),
        }
    }

    fn info_from_db(&self, row: DbPathInfo) -> Result<PathInfo, Error> {
        let bad = |reason: String| Error::BadMetadata {
            path: row.path.clone(),
            reason,
        };
        let nar_hash = Hash::parse_any(&row.nar_hash, Some(HashAlgo::Sha256))
            .map_err(|e| bad(e.to_string()))?;
        let references = row
            .references
            .iter()
            .map(|r| self.parse_path(r))
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        // A deriver recorded by another tool may be unparsable; it is only informative.
        let deriver = row.deriver.as_deref().and_then(|d| self.parse_path(d).ok());
        Ok(PathInfo {
            path: self.parse_path(&row.path).map_err(|e| bad(e.to_string()))?,
            nar_hash,
            nar_size: row.nar_size,
            references,
            deriver,
            registration_time: row.registration_time,
            signatures: row.signatures,
            ca: row.ca,
        })
    }

    /// Records the outputs of a valid derivation (for later `--include-outputs`).
    pub fn set_derivation_outputs(
        &self,
        drv: &StorePath,
        outputs: &[(String, StorePath)],
    ) -> Result<(), Error> {
        let outs: Vec<(String, String)> = outputs
            .iter()
            .map(|(n, p)| (n.clone(), self.print_path(p)))
            .collect();
        self.db()
            .set_derivation_outputs(&self.print_path(drv), &outs)?;
        Ok(())
    }

    /// The recorded outputs of derivation `drv`.
    pub fn derivation_outputs(&self, drv: &StorePath) -> Result<Vec<(String, StorePath)>, Error> {
        let rows = self.db().derivation_outputs(&self.print_path(drv))?;
        rows.into_iter()
            .map(|(n, p)| Ok((n, self.parse_path(&p)?)))
            .collect()
    }
}

/// Seconds since the epoch, for registration times.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parses a declared content address, naming the path when it is malformed.
fn local_ca_parse(path: &str, ca: &str) -> Result<ContentAddress, Error> {
    ContentAddress::parse(ca).map_err(|reason| Error::Refused {
        path: path.to_owned(),
        reason: reason.chars().take(200).collect(),
    })
}
