//! Store paths named on a command line, and the `result` links that keep
//! built paths alive.
//!
//! Every command that takes a store path accepts the same spellings, through
//! [`LocalStore::resolve_arg`]: the logical path (`/b8g/store/…`), its
//! physical location in a chroot store, or a chain of symlinks (`./result`)
//! that ends at one. Result links are made only by
//! [`LocalStore::make_result_link`], so each one is an indirect GC root.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{io_err, Error};
use super::LocalStore;
use crate::format::hash::HashAlgo;
use crate::format::store_path::StorePath;

/// Symlinks followed before an argument is given up on (as `ELOOP` would).
const MAX_HOPS: usize = 32;

impl LocalStore {
    /// The store path a command-line argument names: a logical store path,
    /// the physical location of one, or a symlink chain leading to one. A path
    /// *inside* a store path is refused, as are paths outside the store.
    pub fn resolve_arg(&self, arg: &str) -> Result<StorePath, Error> {
        let not_in_store = || Error::NotInStore {
            arg: arg.to_owned(),
            store_dir: self.store_dir().to_string(),
        };
        let real_store = self.real_store_dir();
        let canonical_store = fs::canonicalize(real_store).ok();
        let mut cur = PathBuf::from(arg);
        for _ in 0..MAX_HOPS {
            let logical = {
                let s = cur.to_string_lossy();
                let physical = [Some(real_store), canonical_store.as_deref()]
                    .into_iter()
                    .flatten()
                    .find_map(|dir| cur.strip_prefix(dir).ok());
                match physical {
                    Some(rel) => Path::new(self.store_dir().as_str())
                        .join(rel)
                        .to_string_lossy()
                        .into_owned(),
                    None => s.into_owned(),
                }
            };
            if let Ok((p, rest)) = self.store_dir().parse_path_prefix(&logical) {
                if !rest.is_empty() {
                    return Err(Error::InsideStorePath {
                        arg: arg.to_owned(),
                        path: self.print_path(&p),
                    });
                }
                return Ok(p);
            }
            cur = match fs::read_link(&cur) {
                Ok(target) => match (target.is_relative(), cur.parent()) {
                    (true, Some(parent)) => parent.join(target),
                    _ => target,
                },
                // Not a link itself: a link may still sit in a directory above it.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => match fs::canonicalize(&cur) {
                    Ok(c) if c != cur => c,
                    _ => return Err(not_in_store()),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::Io {
                        op: "find",
                        path: cur,
                        source: e,
                    })
                }
                Err(_) => return Err(not_in_store()),
            };
        }
        Err(not_in_store())
    }

    /// [`resolve_arg`](Self::resolve_arg), and the path must be valid.
    pub fn resolve_valid_arg(&self, arg: &str) -> Result<StorePath, Error> {
        let p = self.resolve_arg(arg)?;
        if !self.is_valid(&p)? {
            return Err(Error::NotValid {
                path: self.print_path(&p),
            });
        }
        Ok(p)
    }

    /// Registers `link` (a `result` symlink, absolute) as an indirect GC root:
    /// `<state>/gcroots/auto/<hash of the link's name>` points at it, so the
    /// path it names stays alive while the link does, as Nix's `addIndirectRoot`.
    pub fn add_indirect_root(&self, link: &Path) -> Result<PathBuf, Error> {
        let auto = self.state_dir().join("gcroots/auto");
        fs::create_dir_all(&auto).map_err(io_err("create directory", &auto))?;
        let name = HashAlgo::Sha256
            .digest(link.to_string_lossy().as_bytes())
            .to_nix32();
        let root = auto.join(&name[..32]);
        let tmp = auto.join(format!(".{}.tmp-{}", &name[..32], std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(link, &tmp).map_err(io_err("create GC root", &tmp))?;
        fs::rename(&tmp, &root).map_err(io_err("create GC root", &root))?;
        Ok(root)
    }

    /// Points `link` (relative to the current directory when not absolute) at
    /// `path`, replacing what was there in one step, and registers it as an
    /// indirect GC root. Returns the absolute link.
    pub fn make_result_link(&self, link: &Path, path: &StorePath) -> Result<PathBuf, Error> {
        let link = if link.is_absolute() {
            link.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(io_err("read the current directory", link))?
                .join(link)
        };
        let mut tmp = link.clone().into_os_string();
        tmp.push(format!(".tmp-link-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(self.real_path(path), &tmp)
            .map_err(io_err("create link", &tmp))?;
        // The root first: between the two steps GC sees a dangling root, never an unrooted link.
        self.add_indirect_root(&link)?;
        fs::rename(&tmp, &link).map_err(io_err("create link", &link))?;
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::StoreConfig;

    fn store(dir: &Path) -> (LocalStore, StorePath) {
        let store = LocalStore::open(&StoreConfig {
            root: Some(dir.join("root")),
            ..StoreConfig::default()
        })
        .expect("open store");
        let src = dir.join("src");
        fs::write(&src, b"hello").expect("write source");
        let p = store.add_flat(&src, "hello").expect("add");
        (store, p)
    }

    #[test]
    fn every_spelling_of_a_store_path_resolves_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, p) = store(dir.path());
        let logical = store.print_path(&p);
        let physical = store.real_path(&p);
        assert_eq!(store.resolve_arg(&logical).expect("logical"), p);
        assert_eq!(store.resolve_arg(&format!("{logical}/")).expect("slash"), p);
        assert_eq!(
            store
                .resolve_arg(&physical.to_string_lossy())
                .expect("physical"),
            p
        );
        // result -> hop -> the physical path, the first hop relative.
        std::os::unix::fs::symlink(&physical, dir.path().join("hop")).expect("hop");
        std::os::unix::fs::symlink("hop", dir.path().join("result")).expect("result");
        let result = dir.path().join("result");
        assert_eq!(
            store.resolve_arg(&result.to_string_lossy()).expect("link"),
            p
        );
        // A link to a directory that holds the result link.
        std::os::unix::fs::symlink(dir.path(), dir.path().join("up")).expect("up");
        let through = dir.path().join("up/up/result");
        assert_eq!(
            store
                .resolve_arg(&through.to_string_lossy())
                .expect("dir link"),
            p
        );
    }

    #[test]
    fn paths_outside_inside_or_looping_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, p) = store(dir.path());
        let inside = format!("{}/bin", store.print_path(&p));
        let e = store.resolve_arg(&inside).expect_err("inside");
        assert!(matches!(e, Error::InsideStorePath { .. }), "{e}");
        let outside = dir.path().join("src");
        let e = store
            .resolve_arg(&outside.to_string_lossy())
            .expect_err("outside");
        assert!(e.to_string().contains("is not in the store"), "{e}");
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).expect("a");
        std::os::unix::fs::symlink("a", dir.path().join("b")).expect("b");
        let e = store.resolve_arg(&a.to_string_lossy()).expect_err("loop");
        assert!(e.to_string().contains("is not in the store"), "{e}");
        let missing = dir.path().join("missing");
        let e = store
            .resolve_arg(&missing.to_string_lossy())
            .expect_err("missing");
        assert!(e.to_string().contains("cannot find"), "{e}");
    }

    #[test]
    fn a_result_link_is_replaced_in_one_step_and_rooted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, p) = store(dir.path());
        let link = dir.path().join("result");
        fs::write(&link, b"in the way").expect("old file");
        let made = store.make_result_link(&link, &p).expect("link");
        assert_eq!(made, link);
        assert_eq!(fs::read_link(&link).expect("readlink"), store.real_path(&p));
        let roots = store.roots().expect("roots");
        assert!(
            roots.iter().any(|r| r.target == store.print_path(&p)
                && r.kind == crate::local::RootKind::Indirect { via: link.clone() }),
            "{roots:?}"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("read dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
