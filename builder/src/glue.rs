//! Glue between the evaluator (b8g-eval) and the store (b8g-store).
//!
//! The evaluator knows nothing of store formats. Glue registers the builtins
//! that make store objects ([`builtins`]: `derivationStrict`, `toFile`,
//! `path`, `filterSource`, the fetchers) and gives the evaluator its host
//! ([`StoreHost`]): copying sources into the store, text files, and
//! derivations with Nix's output paths (hashDerivationModulo, memoised per
//! `.drv`). With a [`GlueStore`] (the local store) it writes; in a dry run it
//! computes the same paths and writes nothing, as Nix's read-only evaluation
//! does. `fetchurl` and `fetchTarball` download through [`fetch`] at
//! evaluation time; a dry run downloads too (the path depends on the
//! content) but keeps nothing. [`EvalSession`] sets all of this up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use b8g_store::format::derivation::{ParseError, PathError};
use b8g_store::format::hash::{Hash, HashError};
use b8g_store::format::store_path::{FileIngestionMethod, StorePath, StorePathError};
use b8g_store::local::LocalStore;
use thiserror::Error;

pub mod auto_args;
pub mod builtins;
pub mod fetch;
mod fetch_tree;
pub mod git;
pub mod hash_builtins;
mod host;
pub mod parallel;
mod session;
mod store_io;
#[cfg(test)]
mod tests;
mod trees;

pub use auto_args::{AutoArg, AutoArgs};
pub use builtins::store_builtins;
pub use hash_builtins::hash_builtins;
pub use host::StoreHost;
pub use session::{EvalSession, MessageSink, SessionError};

/// Why the store work of an evaluation failed; the evaluator shows it as the
/// message of an error at the builtin's position.
#[derive(Debug, Error)]
pub enum GlueError {
    #[error(transparent)]
    Store(#[from] b8g_store::local::Error),
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    FixedOutput(#[from] PathError),
    #[error("reading derivation '{path}': {source}")]
    ReadDrv {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing derivation '{path}': {source}")]
    ParseDrv { path: String, source: ParseError },
    #[error("{op} '{path}': {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("hashing '{path}': {source}")]
    HashPath {
        path: String,
        source: b8g_store::nar_fs::DumpError,
    },
    #[error(
        "hash mismatch importing path '{path}';\n  specified: {specified}\n  got:       {got}"
    )]
    HashMismatch {
        path: String,
        specified: String,
        got: String,
    },
    #[error("store path mismatch in (possibly filtered) path added from '{0}'")]
    PathMismatch(String),
    #[error("cannot add '{0}' by the hash of its bytes: it is not a regular file")]
    NotRegular(String),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("the store wrote {written}, expected {expected}")]
    StoreDisagrees { written: String, expected: String },
    #[error("fixed-output derivation without a hash")]
    NoFixedHash,
}

impl GlueError {
    fn io(op: &'static str, path: &str, source: std::io::Error) -> GlueError {
        GlueError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// What the glue needs from a store that keeps objects. Paths are full
/// logical store paths (`/nix/store/…`).
pub trait GlueStore: Send {
    /// Adds a tree by its NAR hash (a `source` path).
    fn add_recursive(&self, src: &Path, name: &str) -> Result<String, GlueError>;
    /// Adds a regular file by the hash of its bytes.
    fn add_flat(&self, src: &Path, name: &str) -> Result<String, GlueError>;
    /// The path content of this hash gets under `name`, when it is valid
    /// already (then kept from GC for this process): adding it again is skipped.
    fn valid_fixed_source(
        &self,
        name: &str,
        method: FileIngestionMethod,
        hash: &Hash,
    ) -> Result<Option<String>, GlueError>;
    /// Adds a text object (`toFile`, `.drv`) with references.
    fn add_text(&self, name: &str, contents: &[u8], refs: &[String]) -> Result<String, GlueError>;
    /// The references of a valid path.
    fn references(&self, path: &str) -> Result<BTreeSet<String>, GlueError>;
    /// Where a logical store path is on disk (differs for chroot stores).
    fn real_path(&self, path: &str) -> PathBuf;
    /// Whether a path is valid (registered) in the store.
    fn is_valid(&self, path: &str) -> Result<bool, GlueError>;
}

impl GlueStore for LocalStore {
    fn add_recursive(&self, src: &Path, name: &str) -> Result<String, GlueError> {
        let p = LocalStore::add_recursive(self, src, name)?;
        Ok(self.print_path(&p))
    }
    fn add_flat(&self, src: &Path, name: &str) -> Result<String, GlueError> {
        let p = LocalStore::add_flat(self, src, name)?;
        Ok(self.print_path(&p))
    }
    fn valid_fixed_source(
        &self,
        name: &str,
        method: FileIngestionMethod,
        hash: &Hash,
    ) -> Result<Option<String>, GlueError> {
        let held = LocalStore::valid_fixed_source(self, name, method, hash)?;
        Ok(held.map(|p| self.print_path(&p)))
    }
    fn add_text(&self, name: &str, contents: &[u8], refs: &[String]) -> Result<String, GlueError> {
        let refs: Vec<StorePath> = refs
            .iter()
            .map(|r| self.parse_path(r))
            .collect::<Result<_, _>>()?;
        let p = LocalStore::add_text(self, name, contents, &refs)?;
        Ok(self.print_path(&p))
    }
    fn references(&self, path: &str) -> Result<BTreeSet<String>, GlueError> {
        let sp = self.parse_path(path)?;
        let refs = LocalStore::references(self, &sp)?;
        Ok(refs.iter().map(|r| self.print_path(r)).collect())
    }
    fn real_path(&self, path: &str) -> PathBuf {
        match self.parse_path(path) {
            Ok(sp) => LocalStore::real_path(self, &sp),
            Err(_) => PathBuf::from(path),
        }
    }
    fn is_valid(&self, path: &str) -> Result<bool, GlueError> {
        let sp = self.parse_path(path)?;
        Ok(LocalStore::is_valid(self, &sp)?)
    }
}
