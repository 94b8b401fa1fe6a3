//! `recipes/debian/lock.json`: what `b8g bootstrap lock` writes and
//! `recipes/debian/default.nix` reads (`builtins.fromJSON`). Maps are
//! `BTreeMap`s so the file is the same bytes for the same resolution.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The whole lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianLock {
    /// What this file is, for a reader who opens it.
    #[serde(default)]
    pub comment: String,
    /// The packages asked for (`b8g bootstrap add-debian`); everything else
    /// is here because one of them depends on it.
    pub roots: BTreeSet<String>,
    /// Dependencies never followed: packages only maintainer scripts use
    /// (which do not run here). Kept in the file so a user can edit it.
    pub ignored: BTreeSet<String>,
    pub packages: BTreeMap<String, LockedPackage>,
    pub components: BTreeMap<String, Component>,
}

/// One binary package, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub version: String,
    /// Lowercase hex sha256 of the `.deb`, from the archive's index.
    pub sha256: String,
    /// The packages its `Pre-Depends` and `Depends` resolved to.
    pub depends: BTreeSet<String>,
    /// The component (a key of [`DebianLock::components`]) it is laid out in.
    pub component: String,
}

/// Packages laid out as one store path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub packages: BTreeSet<String>,
    /// Other components its packages depend on.
    pub depends: BTreeSet<String>,
}

/// Why a lock could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockFileError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Inconsistent { path: String, msg: String },
}

/// One package whose pin a refresh changed (`old` or `new` absent: added or dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageChange {
    pub package: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl DebianLock {
    pub const COMMENT: &'static str = "Debian 12 packages as components (pkgs.debian.<name>). \
        Written by `b8g bootstrap lock` (refresh) and `b8g bootstrap add-debian NAME...`; \
        edit only `ignored`.";

    /// An empty lock with the default `ignored` set.
    pub fn new() -> DebianLock {
        DebianLock {
            comment: Self::COMMENT.to_owned(),
            ignored: super::resolve::DEFAULT_IGNORED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..DebianLock::default()
        }
    }

    pub fn read(path: &Path) -> Result<DebianLock, LockFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LockFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let lock: DebianLock =
            serde_json::from_str(&text).map_err(|source| LockFileError::Parse {
                path: shown.clone(),
                source,
            })?;
        lock.check()
            .map_err(|msg| LockFileError::Inconsistent { path: shown, msg })?;
        Ok(lock)
    }

    /// The file's bytes: pretty JSON with a final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a lock serialises");
        s.push('\n');
        s
    }

    /// Writes the lock through a temporary file, so a reader never sees half of it.
    pub fn write(&self, path: &Path) -> Result<(), LockFileError> {
        let err = |source| LockFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, self.to_text()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Every name the file refers to is defined: what the Nix side relies on.
    fn check(&self) -> Result<(), String> {
        for r in &self.roots {
            if !self.packages.contains_key(r) {
                return Err(format!("root {r} has no entry in packages"));
            }
        }
        for (name, p) in &self.packages {
            let c = self.components.get(&p.component).ok_or_else(|| {
                format!(
                    "package {name} names component {} that is not there",
                    p.component
                )
            })?;
            if !c.packages.contains(name) {
                return Err(format!("component {} does not list {name}", p.component));
            }
            if let Some(d) = p.depends.iter().find(|d| !self.packages.contains_key(*d)) {
                return Err(format!("package {name} depends on {d}, which has no entry"));
            }
            let ok = p
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.:~".contains(&b))
                && p.sha256.len() == 64
                && p.sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !ok {
                return Err(format!("package {name} has a malformed version or sha256"));
            }
        }
        for (name, c) in &self.components {
            if let Some(d) = c.depends.iter().find(|d| !self.components.contains_key(*d)) {
                return Err(format!(
                    "component {name} depends on {d}, which has no entry"
                ));
            }
        }
        Ok(())
    }

    /// What changed from `old` to `self`, by package.
    pub fn changes_from(&self, old: &DebianLock) -> Vec<PackageChange> {
        let names: BTreeSet<&String> = old.packages.keys().chain(self.packages.keys()).collect();
        names
            .into_iter()
            .filter_map(|n| {
                let o = old.packages.get(n).map(|p| p.version.clone());
                let v = self.packages.get(n).map(|p| p.version.clone());
                (o != v).then(|| PackageChange {
                    package: n.clone(),
                    old: o,
                    new: v,
                })
            })
            .collect()
    }
}
