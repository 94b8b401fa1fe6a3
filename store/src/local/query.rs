//! Read-only queries: path info, references, referrers, closures and their sizes.

use std::collections::{BTreeSet, VecDeque};

use super::{Error, LocalStore, PathInfo};
use crate::format::store_path::StorePath;

impl LocalStore {
    /// The metadata of `path`, or `None` if it is not valid.
    pub fn path_info(&self, path: &StorePath) -> Result<Option<PathInfo>, Error> {
        let row = self.db().path_info(&self.print_path(path))?;
        row.map(|r| self.info_from_db(r)).transpose()
    }

    fn require_info(&self, path: &StorePath) -> Result<PathInfo, Error> {
        self.path_info(path)?.ok_or_else(|| Error::NotValid {
            path: self.print_path(path),
        })
    }

    /// The direct references of a valid path.
    pub fn references(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, Error> {
        Ok(self.require_info(path)?.references)
    }

    /// The valid paths that refer directly to `path`.
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, Error> {
        let rows = self.db().referrers(&self.print_path(path))?;
        rows.iter().map(|r| self.parse_path(r)).collect()
    }

    /// The closure of `paths` under references (the paths themselves included).
    /// Every path must be valid.
    pub fn closure<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a StorePath>,
    ) -> Result<BTreeSet<StorePath>, Error> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<StorePath> = paths.into_iter().cloned().collect();
        while let Some(p) = queue.pop_front() {
            if seen.contains(&p) {
                continue;
            }
            for r in self.references(&p)? {
                if !seen.contains(&r) {
                    queue.push_back(r);
                }
            }
            seen.insert(p);
        }
        Ok(seen)
    }

    /// The registrations `nix path-info` lists: the given paths, or with
    /// `recursive` their whole closure, references before the paths that
    /// refer to them (Nix's `topoSortPaths` order). Every path must be valid.
    pub fn path_infos(&self, paths: &[StorePath], recursive: bool) -> Result<Vec<PathInfo>, Error> {
        if !recursive {
            return paths.iter().map(|p| self.require_info(p)).collect();
        }
        // Depth first, each path after its references; an explicit stack
        // because closures can be deep.
        let mut done: BTreeSet<StorePath> = BTreeSet::new();
        let mut out = Vec::new();
        for root in paths {
            let mut stack: Vec<(PathInfo, Vec<StorePath>)> = Vec::new();
            if done.insert(root.clone()) {
                let info = self.require_info(root)?;
                let refs = info.references.iter().rev().cloned().collect();
                stack.push((info, refs));
            }
            while let Some((_, refs)) = stack.last_mut() {
                match refs.pop() {
                    Some(r) => {
                        if done.insert(r.clone()) {
                            let info = self.require_info(&r)?;
                            let refs = info.references.iter().rev().cloned().collect();
                            stack.push((info, refs));
                        }
                    }
                    None => {
                        let (info, _) = stack.pop().expect("the loop saw a last element");
                        out.push(info);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The NAR bytes of the closure of `path` (`nix path-info -S`).
    pub fn closure_size(&self, path: &StorePath) -> Result<u64, Error> {
        let mut total = 0u64;
        for p in self.closure([path])? {
            total = total.saturating_add(self.require_info(&p)?.nar_size);
        }
        Ok(total)
    }

    /// All valid paths.
    pub fn valid_paths(&self) -> Result<Vec<StorePath>, Error> {
        let rows = self.db().all_valid()?;
        rows.iter().map(|(p, _, _)| self.parse_path(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::local::{LocalStore, StoreConfig};

    /// `-r` lists references before their referrers, each path once, and
    /// `-S` sums the NAR sizes of the closure.
    #[test]
    fn path_infos_of_a_closure_come_references_first_with_closure_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&StoreConfig {
            root: Some(dir.path().to_owned()),
            ..Default::default()
        })
        .expect("store");
        let dep = store.add_text("dep", b"x", &[]).expect("dep");
        let mid = store
            .add_text(
                "mid",
                store.print_path(&dep).as_bytes(),
                std::slice::from_ref(&dep),
            )
            .expect("mid");
        let text = format!("{} {}", store.print_path(&dep), store.print_path(&mid));
        let top = store
            .add_text("top", text.as_bytes(), &[dep.clone(), mid.clone()])
            .expect("top");
        let listed: Vec<_> = store
            .path_infos(std::slice::from_ref(&top), true)
            .expect("infos")
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(listed, [dep.clone(), mid.clone(), top.clone()]);
        let one = store
            .path_infos(std::slice::from_ref(&top), false)
            .expect("infos");
        assert_eq!(one.len(), 1);
        let size = |p| store.path_info(p).expect("info").expect("valid").nar_size;
        assert_eq!(
            store.closure_size(&top).expect("size"),
            size(&dep) + size(&mid) + size(&top)
        );
        assert_eq!(store.closure_size(&dep).expect("size"), size(&dep));
    }
}
