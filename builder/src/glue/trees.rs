//! The store work of `fetchGit` and `fetchTree`: a fetched tree (a Git
//! revision, a dirty working tree, a local path) is hashed as a NAR and added
//! under its name, or in a dry run only its path is computed. Results are
//! remembered for the rest of the evaluation.

use std::path::Path;

use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::store_path::FileIngestionMethod;

use super::git::{self, GitInput};
use super::host::{Scratch, StoreHost};
use super::GlueError;

/// A tree in the store with what Nix reports about it.
#[derive(Debug, Clone)]
pub(crate) struct FetchedTree {
    pub path: String,
    /// SHA-256 of the tree's NAR serialisation.
    pub nar_hash: Hash,
    /// Git: the commit (`None` for a dirty working tree).
    pub rev: Option<String>,
    /// Git: commits reachable from `rev`, `None` when shallow or dirty.
    pub rev_count: Option<u64>,
    /// Git: the commit time; a path: the newest mtime in it.
    pub last_modified: u64,
}

impl StoreHost {
    /// Adds the tree at `root` as `name` (recursive, SHA-256), or computes
    /// its path in a dry run; returns the path and the NAR hash.
    pub(crate) fn add_tree(
        &mut self,
        root: &Path,
        name: &str,
    ) -> Result<(String, Hash), GlueError> {
        let shown = root.to_string_lossy().into_owned();
        let (hash, _) = b8g_store::nar_fs::hash_path(root, HashAlgo::Sha256).map_err(|source| {
            GlueError::HashPath {
                path: shown.clone(),
                source,
            }
        })?;
        let path = match self.store() {
            Some(s) => s.add_recursive(root, name)?,
            None => {
                let sp = self.store_directory().make_fixed_output_path(
                    name,
                    FileIngestionMethod::Recursive,
                    &hash,
                    &[],
                )?;
                self.store_directory().display(&sp)
            }
        };
        Ok((path, hash))
    }

    /// `fetchGit`/`fetchTree { type = "git"; }`: fetches with the `git` CLI
    /// (see [`git::fetch`]) and adds the tree as `name`.
    /// `warn` gets the warnings Nix prints while fetching (a dirty tree).
    pub(crate) fn fetch_git(
        &mut self,
        input: &GitInput,
        name: &str,
        warn: &mut dyn FnMut(&str),
    ) -> Result<FetchedTree, GlueError> {
        let key = (input.clone(), name.to_string());
        if let Some(t) = self.git_trees.get(&key) {
            return Ok(t.clone());
        }
        let scratch = Scratch::new()
            .map_err(|e| GlueError::io("creating a scratch directory for", &input.url, e))?;
        let tree = git::fetch(input, &scratch.0, warn)?;
        let (path, nar_hash) = self.add_tree(&tree.root, name)?;
        let t = FetchedTree {
            path,
            nar_hash,
            rev: tree.rev,
            rev_count: tree.rev_count,
            last_modified: tree.last_modified,
        };
        self.git_trees.insert(key, t.clone());
        Ok(t)
    }

    /// `fetchTree { type = "path"; }`: the path added as `source`, with the
    /// newest modification time in it (0 for a valid store path named
    /// `source`, which Nix does not copy again).
    pub(crate) fn fetch_path_tree(&mut self, path: &str) -> Result<FetchedTree, GlueError> {
        if let Some(t) = self.path_trees.get(path) {
            return Ok(t.clone());
        }
        let in_store = self
            .store_directory()
            .parse_path(path)
            .ok()
            .filter(|sp| sp.name() == "source");
        let already = match (&in_store, self.store()) {
            (Some(_), Some(s)) => s.is_valid(path)?,
            // A dry run cannot ask; an existing `…-source` path in the store
            // directory is taken as valid.
            (Some(_), None) => Path::new(path).exists(),
            (None, _) => false,
        };
        let (store_path, nar_hash, mtime) = if already {
            let real = match self.store() {
                Some(s) => s.real_path(path),
                None => path.into(),
            };
            let (h, _) =
                b8g_store::nar_fs::hash_path(&real, HashAlgo::Sha256).map_err(|source| {
                    GlueError::HashPath {
                        path: path.to_owned(),
                        source,
                    }
                })?;
            (path.to_string(), h, 0)
        } else {
            let mtime =
                newest_mtime(Path::new(path)).map_err(|e| GlueError::io("reading", path, e))?;
            let (p, h) = self.add_tree(Path::new(path), "source")?;
            (p, h, mtime)
        };
        let t = FetchedTree {
            path: store_path,
            nar_hash,
            rev: None,
            rev_count: None,
            last_modified: mtime,
        };
        self.path_trees.insert(path.to_string(), t.clone());
        Ok(t)
    }
}

/// The newest modification time of `path` and everything below it (not
/// following symlinks), as Nix's `dumpPathAndGetMtime`.
fn newest_mtime(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    let mut newest = u64::try_from(meta.mtime()).unwrap_or(0);
    if meta.is_dir() {
        for e in std::fs::read_dir(path)? {
            newest = newest.max(newest_mtime(&e?.path())?);
        }
    }
    Ok(newest)
}
