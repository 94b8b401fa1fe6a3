//! Signing paths of the local store (`b8g cache sign`, Nix's `nix store sign`).
//!
//! The signature covers the path's fingerprint (see
//! [`crate::format::signing::fingerprint`]) and is recorded in the store's
//! database beside the others, so every later push carries it. A signature
//! by a key of the same name replaces the older one.

use thiserror::Error;

use crate::format::signing::{self, SecretKey, Signature};
use crate::format::store_path::StorePath;
use crate::local::db::{Db, DbError};
use crate::local::{self, LocalStore};

#[derive(Debug, Error)]
pub enum SignError {
    #[error(transparent)]
    Store(#[from] local::Error),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{path} is not valid in the store")]
    NotValid { path: String },
    #[error("cannot sign {path}: {reason}")]
    Fingerprint { path: String, reason: String },
}

/// Adds `key`'s signature to each of `paths`; returns how many gained a new
/// signature (a path already signed identically is left alone).
pub fn sign_paths(
    store: &LocalStore,
    key: &SecretKey,
    paths: &[StorePath],
) -> Result<usize, SignError> {
    // The store keeps no API for editing signatures, so its database is
    // opened directly (the file `LocalStore::open` uses); registering an
    // existing path again replaces its metadata in one transaction.
    let mut db = Db::open(&store.state_dir().join("db").join("db.sqlite"))?;
    let mut changed = 0;
    for p in paths {
        let shown = store.print_path(p);
        let info = store.path_info(p)?.ok_or_else(|| SignError::NotValid {
            path: shown.clone(),
        })?;
        let fp = signing::fingerprint(
            store.store_dir(),
            p,
            &info.nar_hash,
            info.nar_size,
            &info.references,
        )
        .map_err(|e| SignError::Fingerprint {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let sig = key.sign(fp.as_bytes()).to_string();
        if info.signatures.contains(&sig) {
            continue;
        }
        let mut row = db.path_info(&shown)?.ok_or_else(|| SignError::NotValid {
            path: shown.clone(),
        })?;
        row.signatures.retain(|s| {
            Signature::parse(s)
                .map(|s| s.key_name() != key.name())
                .unwrap_or(true)
        });
        row.signatures.push(sig);
        db.register(&[row])?;
        changed += 1;
    }
    Ok(changed)
}
