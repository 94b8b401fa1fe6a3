//! Importing many NARs at once with one flush to disk instead of one per file.
//!
//! [`LocalStore::import_nar`] makes each path durable on its own: every file
//! and directory is `fsync`ed, the store directory too, and the registration
//! is one database commit. For a substitution of hundreds of paths and
//! thousands of files those flushes dominate. An [`ImportBatch`] keeps the
//! same guarantee (a registered path is complete, canonical and durable; a
//! crash leaves only unregistered temporary names that GC removes) with a
//! different order: every NAR is unpacked, checked and made canonical under
//! a temporary name ([`ImportBatch::stage_nar`], callable from several
//! threads), then [`ImportBatch::commit`] flushes the whole file system once
//! (`syncfs`), renames the trees into place, flushes the store directory and
//! registers them all in one transaction.
//!
//! The batch holds the GC lock shared from creation to commit, so a GC cannot
//! remove the staged temporaries meanwhile.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::sync::Mutex;

use super::add::TempEntry;
use super::error::{io_err, Error};
use super::fsutil::{canonicalise_tree, remove_tree, sync_dir};
use super::lock::GcLock;
use super::{LocalStore, NarExpectation, PathInfo};
use crate::format::store_path::StorePath;
use crate::nar_fs::RestoreOptions;

/// Path locks held at once while a batch is moved into place; larger
/// batches are committed in chunks of this many (each lock is an open file).
const LOCKS_PER_CHUNK: usize = 256;

/// NARs unpacked and checked, waiting to be made durable and registered
/// together. Dropping a batch without committing removes what it staged.
pub struct ImportBatch<'a> {
    store: &'a LocalStore,
    _gc: GcLock,
    staged: Mutex<Vec<(TempEntry, PathInfo)>>,
}

impl LocalStore {
    /// Starts a batch of NAR imports (see [`ImportBatch`]).
    pub fn import_batch(&self) -> Result<ImportBatch<'_>, Error> {
        Ok(ImportBatch {
            store: self,
            _gc: self.lock_gc_shared()?,
            staged: Mutex::new(Vec::new()),
        })
    }
}

impl ImportBatch<'_> {
    /// Unpacks the NAR read from `reader` under a temporary name and checks
    /// it against `expected` (hash and size), as [`LocalStore::import_nar`]
    /// does, but neither flushes nor registers it: [`ImportBatch::commit`]
    /// does that for the whole batch. `Ok(false)` when the path is valid
    /// already (nothing is read). May be called from several threads.
    pub fn stage_nar(
        &self,
        reader: &mut dyn Read,
        expected: NarExpectation,
    ) -> Result<bool, Error> {
        let store = self.store;
        if store.is_valid(&expected.path)? {
            store.add_temp_root_locked(&expected.path)?;
            return Ok(false);
        }
        // Large files skip the page cache: a batch is not read back before its flush.
        let options = RestoreOptions {
            direct_io_from: Some(DIRECT_IO_FROM),
        };
        let (temp, info) = store.unpack_expected(reader, expected, &options)?;
        canonicalise_tree(&temp.path)?;
        self.staged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((temp, info));
        Ok(true)
    }

    /// How many paths are staged.
    pub fn len(&self) -> usize {
        self.staged.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every staged path durable, moves it into place and registers
    /// it. References must be valid already or staged in the same batch.
    /// Returns the paths registered (a path another process made valid
    /// meanwhile is left as it is and not listed).
    pub fn commit(self) -> Result<Vec<StorePath>, Error> {
        let store = self.store;
        let staged = self.staged.into_inner().unwrap_or_else(|p| p.into_inner());
        if staged.is_empty() {
            return Ok(Vec::new());
        }
        // One flush of the file system writes back every staged file and
        // directory; only then may a rename make any of them reachable.
        let dir = File::open(&store.real_store).map_err(io_err("open", &store.real_store))?;
        rustix::fs::syncfs(&dir).map_err(|e| io_err("flush", &store.real_store)(e.into()))?;
        // References before referrers, so a chunk never refers to a later one.
        let order = references_first(&staged);
        let mut by_path: HashMap<StorePath, (TempEntry, PathInfo)> = staged
            .into_iter()
            .map(|(t, i)| (i.path.clone(), (t, i)))
            .collect();
        let mut registered = Vec::new();
        for chunk in order.chunks(LOCKS_PER_CHUNK) {
            let mut locks = Vec::with_capacity(chunk.len());
            let mut moved: Vec<(std::path::PathBuf, PathInfo)> = Vec::with_capacity(chunk.len());
            let result = (|| -> Result<(), Error> {
                for p in chunk {
                    let Some((mut temp, info)) = by_path.remove(p) else {
                        continue;
                    };
                    locks.push(store.lock_path(p)?);
                    store.add_temp_root_locked(p)?;
                    if store.is_valid(p)? {
                        continue;
                    }
                    let real = store.real_path(p);
                    // A leftover of an earlier crash or of an interrupted GC.
                    remove_tree(&real)?;
                    std::fs::rename(&temp.path, &real).map_err(io_err("move into place", &real))?;
                    temp.armed = false;
                    moved.push((real, info));
                }
                if moved.is_empty() {
                    return Ok(());
                }
                sync_dir(&store.real_store)?;
                let infos: Vec<PathInfo> = moved.iter().map(|(_, i)| i.clone()).collect();
                store.register(&infos)
            })();
            if let Err(e) = result {
                // Not registered: do not leave the moved trees behind.
                for (real, _) in &moved {
                    if let Err(rm) = remove_tree(real) {
                        tracing::warn!("cannot remove unregistered {}: {rm}", real.display());
                    }
                }
                return Err(e);
            }
            for (_, info) in moved {
                tracing::debug!(path = %store.print_path(&info.path), "added");
                registered.push(info.path);
            }
            drop(locks);
        }
        Ok(registered)
    }
}

/// Files at least this large are written past the page cache (see
/// [`RestoreOptions::direct_io_from`]): most of a substitution's bytes are
/// in such files, and a batch is not read back before its flush.
const DIRECT_IO_FROM: u64 = 256 << 10;

/// The staged paths ordered so that each comes after the staged paths it
/// refers to (a self-reference does not count; a store has no other cycles).
fn references_first(staged: &[(TempEntry, PathInfo)]) -> Vec<StorePath> {
    let in_batch: BTreeSet<&StorePath> = staged.iter().map(|(_, i)| &i.path).collect();
    let mut placed: BTreeSet<&StorePath> = BTreeSet::new();
    let mut order = Vec::with_capacity(staged.len());
    let mut left: Vec<&PathInfo> = staged.iter().map(|(_, i)| i).collect();
    while !left.is_empty() {
        let (ready, rest): (Vec<&PathInfo>, Vec<&PathInfo>) = left.into_iter().partition(|i| {
            i.references
                .iter()
                .all(|r| *r == i.path || !in_batch.contains(r) || placed.contains(r))
        });
        if ready.is_empty() {
            // Cannot happen in a store; registering them together still works.
            order.extend(rest.iter().map(|i| i.path.clone()));
            break;
        }
        for i in ready {
            placed.insert(&i.path);
            order.push(i.path.clone());
        }
        left = rest;
    }
    order
}
