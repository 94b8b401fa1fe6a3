//! Errors of the local store, with the path and operation that failed.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::db::DbError;
use crate::format::hash::HashError;
use crate::format::store_path::StorePathError;

/// Everything that can go wrong in a local-store operation.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("path {path} is not valid in the store")]
    NotValid { path: String },
    #[error("cannot add {path}: {reason}")]
    BadSource { path: PathBuf, reason: String },
    #[error("cannot serialise {path} as a NAR: {reason}")]
    Dump { path: PathBuf, reason: String },
    #[error("invalid NAR for {target}: {reason}")]
    Restore { target: String, reason: String },
    #[error("NAR of {path} has {what} {actual}, expected {expected}")]
    Mismatch {
        path: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{arg} is not in the store {store_dir}")]
    NotInStore { arg: String, store_dir: String },
    #[error("{arg} is inside store path {path}, not a store path itself")]
    InsideStorePath { arg: String, path: String },
    /// What an importer declared about a path does not hold (its content
    /// address, signatures or references).
    #[error("refused {path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("store database entry for {path} is unusable: {reason}")]
    BadMetadata { path: String, reason: String },
}

/// Adapter for `map_err`: attaches the operation and path to an I/O error.
pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}
