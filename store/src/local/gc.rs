//! Garbage collection and GC roots.
//!
//! Roots are symlinks under `<state>/gcroots` (searched recursively):
//! - *direct*: the link points into the store;
//! - *indirect*: the link points to a symlink elsewhere (say a `result`
//!   link in a project) which points into the store. When that outer link is
//!   gone the root is dangling: it is ignored, and GC removes it;
//! - a link to a directory outside the store (a profiles directory) is
//!   searched in turn.
//!
//! Temporary roots of live processes count too, and so do paths live processes
//! use (runtime roots, see [`super::runtime_roots`]). GC keeps the closure of all
//! roots and deletes every other path. It holds the GC lock exclusively, so
//! no addition is in progress; it invalidates a path in the database *before*
//! deleting its files, and always referrers before their references, so a
//! crash never leaves a valid path missing or with an invalid reference.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{io_err, Error};
use super::fsutil::remove_tree;
use super::lock::read_temp_roots;
use super::LocalStore;
use crate::format::store_path::StorePath;

/// How deep GC follows links to directories under `gcroots`.
const MAX_ROOT_DEPTH: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Stop once this many bytes are freed.
    pub max_freed: Option<u64>,
    /// Paths kept with their closures as if a root named them (such as the
    /// pinned seeds of the bootstrap lock, which Debian may no longer serve).
    pub extra_roots: Vec<StorePath>,
}

#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Full store paths deleted (or, in a dry run, that would be).
    pub deleted: Vec<String>,
    /// Unregistered entries removed from the store directory (temporary
    /// names, leftovers of crashes).
    pub removed_strays: Vec<String>,
    /// Bytes freed; in a dry run the NAR sizes of the paths, an estimate.
    pub bytes_freed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKind {
    /// A link in `gcroots` pointing into the store.
    Direct,
    /// A link in `gcroots` pointing to this link, which points into the store.
    Indirect { via: PathBuf },
    /// A temporary root of a live process.
    Temporary,
    /// A path a live process uses (found in `/proc`; `link` says where).
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRoot {
    /// The link in `gcroots`, the temporary-roots directory, or the `/proc`
    /// entry of a runtime root.
    pub link: PathBuf,
    pub kind: RootKind,
    /// The full logical store path (a sub-path is cut off).
    pub target: String,
}

impl LocalStore {
    /// The store path a link target names, if it lies in the store: its
    /// logical path, or (in a chroot store) its physical location, where
    /// result links point.
    fn root_target(&self, target: &Path) -> Option<StorePath> {
        let logical = match target.strip_prefix(&self.real_store) {
            Ok(rel) if self.real_store != Path::new(self.store_dir.as_str()) => {
                Path::new(self.store_dir.as_str()).join(rel)
            }
            _ => target.to_path_buf(),
        };
        let s = logical.to_str()?;
        self.store_dir.parse_path_prefix(s).ok().map(|(p, _)| p)
    }

    fn find_roots_in(
        &self,
        dir: &Path,
        depth: usize,
        remove_dangling: bool,
        out: &mut Vec<GcRoot>,
    ) -> Result<(), Error> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("read GC roots directory", dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err("read GC roots directory", dir))?;
            let link = entry.path();
            let ft = entry.file_type().map_err(io_err("stat", &link))?;
            if ft.is_dir() {
                if depth < MAX_ROOT_DEPTH {
                    self.find_roots_in(&link, depth + 1, remove_dangling, out)?;
                }
                continue;
            }
            if !ft.is_symlink() {
                continue;
            }
            let target = fs::read_link(&link).map_err(io_err("read link", &link))?;
            let target = if target.is_relative() {
                dir.join(target)
            } else {
                target
            };
            if let Some(p) = self.root_target(&target) {
                out.push(GcRoot {
                    link,
                    kind: RootKind::Direct,
                    target: self.print_path(&p),
                });
                continue;
            }
            // Outside the store: an indirect root, a directory to search, or dangling.
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let inner = fs::read_link(&target).map_err(io_err("read link", &target))?;
                    let inner = match (inner.is_relative(), target.parent()) {
                        (true, Some(parent)) => parent.join(inner),
                        _ => inner,
                    };
                    if let Some(p) = self.root_target(&inner) {
                        out.push(GcRoot {
                            link,
                            kind: RootKind::Indirect { via: target },
                            target: self.print_path(&p),
                        });
                    } else if fs::metadata(&target).is_err() && remove_dangling {
                        // The outer link points nowhere: the root is dead.
                        self.drop_dangling(&link);
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    if depth < MAX_ROOT_DEPTH {
                        self.find_roots_in(&target, depth + 1, remove_dangling, out)?;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if remove_dangling {
                        self.drop_dangling(&link);
                    }
                }
                Err(e) => return Err(io_err("stat GC root target", &target)(e)),
            }
        }
        Ok(())
    }

    fn drop_dangling(&self, link: &Path) {
        tracing::info!("removing dangling GC root {}", link.display());
        if let Err(e) = fs::remove_file(link) {
            tracing::warn!("cannot remove dangling GC root {}: {e}", link.display());
        }
    }

    /// All roots: links in `gcroots` and temporary roots of live processes.
    pub fn roots(&self) -> Result<Vec<GcRoot>, Error> {
        self.collect_roots(false)
    }

    fn collect_roots(&self, remove_dangling: bool) -> Result<Vec<GcRoot>, Error> {
        let mut out = Vec::new();
        self.find_roots_in(&self.state.join("gcroots"), 0, remove_dangling, &mut out)?;
        let temp_dir = self.state.join("temproots");
        for target in read_temp_roots(&temp_dir)? {
            if let Some(p) = self.root_target(Path::new(&target)) {
                out.push(GcRoot {
                    link: temp_dir.clone(),
                    kind: RootKind::Temporary,
                    target: self.print_path(&p),
                });
            }
        }
        for (source, base) in super::runtime_roots::scan(&self.real_store) {
            if let Ok(p) = StorePath::from_base_name(&base) {
                out.push(GcRoot {
                    link: source,
                    kind: RootKind::Runtime,
                    target: self.print_path(&p),
                });
            }
        }
        Ok(out)
    }

    /// Creates (or replaces) the direct root `<state>/gcroots/<name>` for `path`.
    pub fn add_root(&self, name: &str, path: &StorePath) -> Result<PathBuf, Error> {
        let link = self.state.join("gcroots").join(name);
        let tmp = self
            .state
            .join("gcroots")
            .join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(self.print_path(path), &tmp)
            .map_err(io_err("create GC root", &tmp))?;
        fs::rename(&tmp, &link).map_err(io_err("create GC root", &link))?;
        Ok(link)
    }

    /// Deletes every path not reachable from a root, plus unregistered
    /// leftovers in the store directory.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport, Error> {
        let _gc = self.lock_gc_exclusive()?;
        let roots = self.collect_roots(!opts.dry_run)?;
        let mut root_set: HashSet<String> = roots.into_iter().map(|r| r.target).collect();
        root_set.extend(opts.extra_roots.iter().map(|p| self.print_path(p)));

        let (valid, graph) = {
            let db = self.db();
            (db.all_valid()?, db.reference_graph()?)
        };
        let sizes: HashMap<String, u64> = valid.iter().map(|(p, _, s)| (p.clone(), *s)).collect();

        // Live: the closure of the valid roots.
        let mut live: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<&str> = root_set
            .iter()
            .filter(|r| sizes.contains_key(*r))
            .map(String::as_str)
            .collect();
        while let Some(p) = queue.pop_front() {
            if !live.insert(p.to_owned()) {
                continue;
            }
            for r in graph.get(p).into_iter().flatten() {
                if !live.contains(r) {
                    queue.push_back(r);
                }
            }
        }

        // Dead paths, referrers first: the dead set is closed under referrers
        // (a referrer of a dead path cannot be live), so repeatedly taking
        // paths no remaining dead path refers to empties it.
        let dead: BTreeSet<&str> = valid
            .iter()
            .map(|(p, _, _)| p.as_str())
            .filter(|p| !live.contains(*p))
            .collect();
        let mut pending_referrers: HashMap<&str, usize> = dead.iter().map(|p| (*p, 0)).collect();
        for p in &dead {
            for r in graph.get(*p).into_iter().flatten() {
                if r != p {
                    if let Some(n) = pending_referrers.get_mut(r.as_str()) {
                        *n += 1;
                    }
                }
            }
        }
        let mut ready: VecDeque<&str> = pending_referrers
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(p, _)| *p)
            .collect();
        let mut order: Vec<&str> = Vec::with_capacity(dead.len());
        while let Some(p) = ready.pop_front() {
            order.push(p);
            for r in graph.get(p).into_iter().flatten() {
                if r != p {
                    if let Some(n) = pending_referrers.get_mut(r.as_str()) {
                        *n -= 1;
                        if *n == 0 {
                            ready.push_back(r);
                        }
                    }
                }
            }
        }

        let mut report = GcReport::default();
        if opts.dry_run {
            for p in order {
                report.bytes_freed += sizes.get(p).copied().unwrap_or(0);
                report.deleted.push(p.to_owned());
                if opts.max_freed.is_some_and(|m| report.bytes_freed >= m) {
                    break;
                }
            }
            return Ok(report);
        }

        // With a limit, go one path at a time so we stop close to it.
        let batch = if opts.max_freed.is_some() { 1 } else { 256 };
        'batches: for chunk in order.chunks(batch) {
            let names: Vec<String> = chunk.iter().map(|p| p.to_string()).collect();
            self.db().invalidate(&names)?;
            for p in chunk {
                let sp = self.parse_path(p)?;
                report.bytes_freed += remove_tree(&self.real_path(&sp))?;
                report.deleted.push(p.to_string());
                tracing::debug!(path = p, "deleted");
                if opts.max_freed.is_some_and(|m| report.bytes_freed >= m) {
                    break 'batches;
                }
            }
        }
        if opts.max_freed.is_some_and(|m| report.bytes_freed >= m) {
            return Ok(report);
        }

        // Unregistered entries: leftovers of crashes and interrupted deletions.
        let valid_names: HashSet<&str> = valid.iter().map(|(p, _, _)| p.as_str()).collect();
        for (name, real) in self.stray_entries(&valid_names, &root_set)? {
            report.bytes_freed += remove_tree(&real)?;
            report.removed_strays.push(name);
        }
        report.bytes_freed += self.clean_links()?;
        Ok(report)
    }

    /// Entries of the store directory that are neither valid nor `.links`,
    /// skipping paths that a live writer holds locked or that are temporary
    /// roots. The caller holds the GC lock exclusively, so no addition is
    /// writing a temporary name meanwhile.
    pub(crate) fn stray_entries(
        &self,
        valid: &HashSet<&str>,
        roots: &HashSet<String>,
    ) -> Result<Vec<(String, PathBuf)>, Error> {
        let mut out = Vec::new();
        let dir = &self.real_store;
        for entry in fs::read_dir(dir).map_err(io_err("read store directory", dir))? {
            let entry = entry.map_err(io_err("read store directory", dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                out.push((entry.path().display().to_string(), entry.path()));
                continue;
            };
            if name == ".links" {
                continue;
            }
            let full = format!("{}/{name}", self.store_dir);
            if valid.contains(full.as_str()) || roots.contains(&full) {
                continue;
            }
            if let Ok(sp) = StorePath::from_base_name(name) {
                // Held by a builder that is writing it in place.
                if self.try_lock_path(&sp)?.is_none() {
                    continue;
                }
            }
            out.push((full, entry.path()));
        }
        out.sort();
        Ok(out)
    }

    /// Removes `.links` entries no store file uses any more.
    fn clean_links(&self) -> Result<u64, Error> {
        use std::os::unix::fs::MetadataExt;
        let dir = self.real_store.join(".links");
        let mut freed = 0;
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("read", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err("read", &dir))?;
            let meta = entry.metadata().map_err(io_err("stat", &entry.path()))?;
            if meta.nlink() == 1 {
                freed += meta.size();
                fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
            }
        }
        Ok(freed)
    }
}
