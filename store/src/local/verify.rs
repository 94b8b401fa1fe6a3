//! Verification of the store against its database, and repair.
//!
//! Checks that every valid path exists; with `check_contents`, re-hashes
//! every valid path's NAR (in parallel: the paths are independent) and
//! compares hash and size with the database; and looks for entries in the
//! store directory that are not valid (temporary names and leftovers of
//! crashed additions or deletions). `repair` drops the registrations of
//! missing paths (and of their referrers, whose closures are now broken) and
//! removes unregistered entries. A path whose contents do not match cannot be
//! repaired from here: it is only reported.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::fs;

use rayon::prelude::*;

use super::add::nar_hash_inline;
use super::error::Error;
use super::fsutil::remove_tree;
use super::lock::read_temp_roots;
use super::LocalStore;
use crate::format::hash::{Hash, HashAlgo};

/// Hashing workers per core for `check_contents`.
const VERIFY_THREADS_PER_CORE: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub check_contents: bool,
    pub repair: bool,
}

/// One inconsistency found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A valid path is absent from disk.
    Missing { path: String },
    /// A valid path's NAR differs from its registration.
    ContentsChanged {
        path: String,
        expected: String,
        actual: String,
    },
    /// A valid path could not be read or serialised.
    Unreadable { path: String, reason: String },
    /// An entry in the store directory that is not a valid path.
    Unregistered { path: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { path } => {
                write!(f, "path {path} is registered as valid but does not exist")
            }
            Problem::ContentsChanged {
                path,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "path {path} was modified: expected {expected}, got {actual}"
                )
            }
            Problem::Unreadable { path, reason } => {
                write!(f, "path {path} cannot be checked: {reason}")
            }
            Problem::Unregistered { path } => {
                write!(f, "{path} is in the store directory but not registered")
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Valid paths examined.
    pub checked: usize,
    /// Everything found wrong.
    pub problems: Vec<Problem>,
    /// What `repair` did, one line each.
    pub repaired: Vec<String>,
    /// Problems still present after repair (all of them without `repair`).
    pub unresolved: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.unresolved.is_empty()
    }
}

impl LocalStore {
    /// Checks the store; see the module documentation.
    pub fn verify(&self, opts: &VerifyOptions) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport::default();
        let mut missing: Vec<String> = Vec::new();
        let mut changed: Vec<Problem> = Vec::new();
        {
            // Shared: additions may go on, but GC may not delete what we read.
            let _gc = self.lock_gc_shared()?;
            let valid = self.db().all_valid()?;
            report.checked = valid.len();
            for (path, _, _) in &valid {
                let sp = self.parse_path(path)?;
                if fs::symlink_metadata(self.real_path(&sp)).is_err() {
                    missing.push(path.clone());
                }
            }
            if opts.check_contents {
                let missing_set: HashSet<&String> = missing.iter().collect();
                let check = || -> Vec<Problem> {
                    valid
                        .par_iter()
                        .filter(|(p, _, _)| !missing_set.contains(p))
                        .filter_map(|(path, hash, size)| self.check_one(path, hash, *size))
                        .collect()
                };
                // More workers than cores: a path whose files are not cached
                // blocks on the disk, and others can hash meanwhile.
                let threads = std::thread::available_parallelism().map_or(2, |n| n.get())
                    * VERIFY_THREADS_PER_CORE;
                changed = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                    Ok(pool) => pool.install(check),
                    Err(e) => {
                        tracing::debug!("no dedicated verify pool ({e}); using the global one");
                        check()
                    }
                };
                changed.sort_by(|a, b| format!("{a}").cmp(&format!("{b}")));
            }
        }

        // Exclusive: no addition is half-way, so unregistered entries are leftovers.
        let _gc = self.lock_gc_exclusive()?;
        let valid = self.db().all_valid()?;
        let valid_names: HashSet<&str> = valid.iter().map(|(p, _, _)| p.as_str()).collect();
        // Temporary roots may name a path a live builder is about to register.
        let roots: HashSet<String> = read_temp_roots(&self.state.join("temproots"))?
            .into_iter()
            .collect();
        let strays = self.stray_entries(&valid_names, &roots)?;

        for p in &missing {
            report.problems.push(Problem::Missing { path: p.clone() });
        }
        report.problems.extend(changed.iter().cloned());
        for (name, _) in &strays {
            report
                .problems
                .push(Problem::Unregistered { path: name.clone() });
        }
        if !opts.repair {
            report.unresolved = report.problems.clone();
            return Ok(report);
        }

        // Re-check under the exclusive lock: a path may have been added since.
        let still_missing: Vec<String> = missing
            .into_iter()
            .filter(|p| {
                valid_names.contains(p.as_str())
                    && self
                        .parse_path(p)
                        .is_ok_and(|sp| fs::symlink_metadata(self.real_path(&sp)).is_err())
            })
            .collect();
        if !still_missing.is_empty() {
            // Their referrers' closures are incomplete now: drop those too.
            let mut doomed: BTreeSet<String> = BTreeSet::new();
            let mut queue: VecDeque<String> = still_missing.into_iter().collect();
            while let Some(p) = queue.pop_front() {
                if !doomed.insert(p.clone()) {
                    continue;
                }
                for r in self.db().referrers(&p)? {
                    queue.push_back(r);
                }
            }
            let doomed: Vec<String> = doomed.into_iter().collect();
            self.db().invalidate(&doomed)?;
            for p in doomed {
                report.repaired.push(format!("invalidated {p}"));
            }
        }
        for (name, real) in strays {
            remove_tree(&real)?;
            report.repaired.push(format!("removed {name}"));
        }
        report.unresolved = changed;
        Ok(report)
    }

    fn check_one(&self, path: &str, db_hash: &str, db_size: u64) -> Option<Problem> {
        let expected = match Hash::parse_any(db_hash, Some(HashAlgo::Sha256)) {
            Ok(h) => h,
            Err(e) => {
                return Some(Problem::Unreadable {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        let real = match self.parse_path(path) {
            Ok(sp) => self.real_path(&sp),
            Err(e) => {
                return Some(Problem::Unreadable {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        match nar_hash_inline(&real) {
            Err(e) => Some(Problem::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
            Ok((hash, size)) if hash != expected || size != db_size => {
                Some(Problem::ContentsChanged {
                    path: path.to_owned(),
                    expected: format!("{} ({db_size} bytes)", expected.to_sri()),
                    actual: format!("{} ({size} bytes)", hash.to_sri()),
                })
            }
            Ok(_) => None,
        }
    }
}
