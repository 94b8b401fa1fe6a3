//! Read-only queries: path info, references, referrers, closures.

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

    /// All valid paths.
    pub fn valid_paths(&self) -> Result<Vec<StorePath>, Error> {
        let rows = self.db().all_valid()?;
        rows.iter().map(|(p, _, _)| self.parse_path(p)).collect()
    }
}
