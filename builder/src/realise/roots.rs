//! The temporary GC roots of one realisation.
//!
//! A path is made a temporary root *before* its validity is checked or it is
//! read, as Nix does: once rooted, a GC that starts later keeps it (and its
//! closure), so what planning found valid is still there when a build uses
//! it. Rooting only when a build starts left a window between planning and
//! the build in which a GC could delete an input. Each path is rooted once per
//! realisation; the roots last as long as the store handle.

use std::collections::HashSet;
use std::sync::Mutex;

use b8g_store::format::store_path::StorePath;
use b8g_store::local::{Error, LocalStore};

pub(super) struct TempRoots<'s> {
    store: &'s LocalStore,
    added: Mutex<HashSet<StorePath>>,
}

impl<'s> TempRoots<'s> {
    pub(super) fn new(store: &'s LocalStore) -> Self {
        TempRoots {
            store,
            added: Mutex::new(HashSet::new()),
        }
    }

    /// Roots `path` unless this realisation did already.
    pub(super) fn add(&self, path: &StorePath) -> Result<(), Error> {
        let fresh = self
            .added
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(path.clone());
        if fresh {
            // Should this fail, a later call tries again.
            if let Err(e) = self.store.add_temp_root(path) {
                self.added
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(path);
                return Err(e);
            }
        }
        Ok(())
    }
}
