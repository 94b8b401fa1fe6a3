//! Where build logs live and how to find the one of a path.
//!
//! Layout: `<state>/log/drvs/<first two characters>/<rest of the .drv base
//! name>`, as Nix's `<state>/log/drvs/…` but stored uncompressed (no `.bz2`):
//! logs are written while the build runs and read with any pager.

use std::path::PathBuf;

use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

/// Why no log could be shown.
#[derive(Debug, thiserror::Error)]
pub enum LogLookupError {
    /// The argument is not a path of this store.
    #[error("{path} is not a path in the store: {reason}")]
    NotInStore {
        /// What was asked for.
        path: String,
        /// Why.
        reason: String,
    },
    /// An output path whose deriver is unknown.
    #[error("{0} is not valid or has no known deriver, so it has no build log")]
    NoDeriver(String),
    /// The derivation was never built here (or was substituted).
    #[error("no build log for {0} (never built in this store, or fetched from a cache)")]
    NoLog(String),
    /// A store query failed.
    #[error("cannot query {path}: {source}")]
    Store {
        /// The path.
        path: String,
        /// The store's error.
        source: Box<b8g_store::local::Error>,
    },
}

/// The log file of derivation `drv` (which may not exist).
pub fn log_path(store: &LocalStore, drv: &StorePath) -> PathBuf {
    let base = drv.to_string();
    let (dir, rest) = base.split_at(2);
    store.state_dir().join("log/drvs").join(dir).join(rest)
}

/// The log of `path`: a `.drv` path, or an output path (through its deriver).
/// Accepts a path inside a store path too (`/b8g/store/…-hello/bin/hello`).
pub fn find_log(store: &LocalStore, path: &str) -> Result<PathBuf, LogLookupError> {
    let (p, _) =
        store
            .store_dir()
            .parse_path_prefix(path)
            .map_err(|e| LogLookupError::NotInStore {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
    let drv = if p.to_string().ends_with(".drv") {
        p
    } else {
        let info = store
            .path_info(&p)
            .map_err(|source| LogLookupError::Store {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        info.and_then(|i| i.deriver)
            .ok_or_else(|| LogLookupError::NoDeriver(store.print_path(&p)))?
    };
    let log = log_path(store, &drv);
    if log.is_file() {
        Ok(log)
    } else {
        Err(LogLookupError::NoLog(store.print_path(&drv)))
    }
}
