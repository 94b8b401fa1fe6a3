//! b8g-store: Nix-compatible formats and the local content-addressed store.
//!
//! `format` holds the pure formats (hashes, nix32, store paths, NAR, derivations)
//! and does no I/O of its own beyond the readers and writers it is handed;
//! `local` is the on-disk store (SQLite metadata, registration, GC, verify) built on it.

pub mod bounded;
pub mod cache;
pub mod format;
pub mod local;
pub mod nar_fs;
pub mod openat;
pub mod serve;
