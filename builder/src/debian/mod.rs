//! Debian's archive as pinned components (`pkgs.debian.<name>`).
//!
//! A configuration names binary packages; `recipes/debian/lock.json` pins
//! each of them and its `Depends`/`Pre-Depends` closure (version and the
//! sha256 that apt's verified indices give), grouped into components: the
//! strongly connected parts of the dependency graph, since a store path
//! cannot refer to one that refers back to it. `recipes/debian` lays each
//! component out as one store path, as the seeds are.
//!
//! [`lock`] is the file's format, read by the Nix side through `fromJSON`;
//! [`resolve`] computes a lock from an index; [`apt`] is the host's apt as
//! that index.

pub mod apt;
pub mod lock;
pub mod resolve;

pub use lock::{Component, DebianLock, LockedPackage};
pub use resolve::{resolve, DebianIndex, Record, ResolveError};
