//! Registering paths that are already complete in a store being assembled, such as the
//! store of a root image: what Nix's `closureInfo` and `nix-store --load-db` do for a
//! NixOS image, so the booted system's store knows its own closure (`b8g system
//! diff/switch/rollback` need the running generation to be valid).

use std::collections::BTreeSet;

use super::add::nar_hash_of;
use super::{Error, LocalStore, PathInfo};
use crate::format::store_path::StorePath;

impl LocalStore {
    /// Registers `paths`, each already complete at its place in this store, in one
    /// transaction. Their references are found among `paths` themselves (a closure must
    /// be given whole); `registration_time` is given so an image's database is the same
    /// bytes every time.
    pub fn register_in_place(
        &self,
        paths: &BTreeSet<StorePath>,
        registration_time: i64,
    ) -> Result<Vec<PathInfo>, Error> {
        let mut infos = Vec::with_capacity(paths.len());
        for path in paths {
            let real = self.real_path(path);
            let (nar_hash, nar_size) = nar_hash_of(&real)?;
            let references = self.scan_references(&real, paths)?;
            infos.push(PathInfo {
                path: path.clone(),
                nar_hash,
                nar_size,
                references,
                deriver: None,
                registration_time,
                signatures: Vec::new(),
                ca: None,
            });
        }
        self.register(&infos)?;
        Ok(infos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::StoreConfig;

    #[test]
    fn paths_in_place_become_valid_with_their_references_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            root: Some(dir.path().to_owned()),
            ..StoreConfig::default()
        };
        let store = LocalStore::open(&config).unwrap();
        let dep = store
            .parse_path(&format!("{}/{}-dep", store.store_dir(), "a".repeat(32)))
            .unwrap();
        let top = store
            .parse_path(&format!("{}/{}-top", store.store_dir(), "b".repeat(32)))
            .unwrap();
        std::fs::write(store.real_path(&dep), "dependency").unwrap();
        std::fs::write(
            store.real_path(&top),
            format!("uses {}", store.print_path(&dep)),
        )
        .unwrap();
        let all: BTreeSet<StorePath> = [dep.clone(), top.clone()].into();
        store.register_in_place(&all, 1).unwrap();
        let info = store.path_info(&top).unwrap().expect("top is valid");
        assert_eq!(info.references, [dep.clone()].into());
        assert_eq!(info.registration_time, 1);
        assert!(store.path_info(&dep).unwrap().is_some());
    }
}
