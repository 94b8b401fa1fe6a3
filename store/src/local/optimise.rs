//! Deduplication: identical files are hard-linked through
//! `<store>/.links/<nix32 of the file's NAR sha256>`, as Nix does. Hashing
//! the file's NAR (not its bytes) keeps executable and plain copies apart.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::add::nar_hash_of;
use super::error::{io_err, Error};
use super::LocalStore;

#[derive(Debug, Clone, Default)]
pub struct OptimiseReport {
    /// Files replaced by a hard link.
    pub files_linked: u64,
    /// Bytes no longer stored twice.
    pub bytes_saved: u64,
}

static LINK_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    /// Hard-links identical files of all valid paths.
    pub fn optimise(&self) -> Result<OptimiseReport, Error> {
        // Shared: GC must not remove `.links` entries or paths meanwhile.
        let _gc = self.lock_gc_shared()?;
        let mut report = OptimiseReport::default();
        for p in self.valid_paths()? {
            self.optimise_tree(&self.real_path(&p), &mut report)?;
        }
        Ok(report)
    }

    fn optimise_tree(&self, path: &Path, report: &mut OptimiseReport) -> Result<(), Error> {
        let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
        if meta.is_dir() {
            for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
                let entry = entry.map_err(io_err("read directory", path))?;
                self.optimise_tree(&entry.path(), report)?;
            }
            return Ok(());
        }
        if !meta.is_file() {
            return Ok(());
        }
        let (hash, _) = nar_hash_of(path)?;
        let link = self.real_store.join(".links").join(hash.to_nix32());
        match fs::hard_link(path, &link) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("link into .links", &link)(e)),
        }
        let link_meta = fs::symlink_metadata(&link).map_err(io_err("stat", &link))?;
        if link_meta.ino() == meta.ino() && link_meta.dev() == meta.dev() {
            return Ok(());
        }
        // Replace the file atomically by a new name for the shared inode.
        let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .real_store
            .join(format!(".tmp-link-{}-{n}", std::process::id()));
        fs::hard_link(&link, &tmp).map_err(io_err("link", &tmp))?;
        let parent = path.parent().unwrap_or(&self.real_store);
        let parent_mode = fs::symlink_metadata(parent)
            .map_err(io_err("stat", parent))?
            .permissions()
            .mode();
        let restore = parent_mode & 0o200 == 0;
        if restore {
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755))
                .map_err(io_err("make writable", parent))?;
        }
        let renamed = fs::rename(&tmp, path).map_err(io_err("replace with link", path));
        if restore {
            fs::set_permissions(parent, fs::Permissions::from_mode(parent_mode & 0o7777))
                .map_err(io_err("make read-only", parent))?;
        }
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        report.files_linked += 1;
        if meta.nlink() == 1 {
            report.bytes_saved += meta.size();
        }
        Ok(())
    }
}
