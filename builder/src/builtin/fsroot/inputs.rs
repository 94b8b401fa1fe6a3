//! The read side of builtin containment: the input closure, opened by the
//! kernel inside the store's physical root and checked to be in the closure.

use super::{errno, fd_path, io_err};
use crate::builtin::BuiltinError;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

/// Read access to the input closure of one derivation.
///
/// Invariant: every [`InputFile`] it hands out was opened by the kernel inside
/// `root` and lies inside a store path of `closure` (valid paths, so immutable).
pub struct StoreInputs {
    /// The physical directory holding the logical store directory (`/` for a
    /// store at its logical place, `<root>` for a chroot store).
    root: OwnedFd,
    /// Where the store's objects are, canonical, to check what the kernel
    /// resolved (it may differ from `<root>/<store dir>` when a directory on
    /// the way is a symlink, e.g. `/b8g -> /data/b8g`).
    store_path: PathBuf,
    /// The logical store directory, e.g. `/b8g/store`.
    store_dir: String,
    /// Base names (`<hash>-<name>`) of the store paths that may be read.
    closure: BTreeSet<String>,
}

/// A file or directory of the input closure, opened.
#[derive(Debug)]
pub struct InputFile {
    fd: OwnedFd,
    /// Its physical path: canonical, without symlinks, inside a closure member.
    path: PathBuf,
    /// Its logical path (`<store dir>/<hash>-<name>/...`), symlinks resolved.
    logical: String,
}

impl StoreInputs {
    /// Read access to `closure` (base names `<hash>-<name>`) of the store whose
    /// logical directory `store_dir` lives physically at `physical_store`.
    pub fn new(
        physical_store: &Path,
        store_dir: &str,
        closure: impl IntoIterator<Item = String>,
    ) -> Result<Self, BuiltinError> {
        let logical: Vec<_> = Path::new(store_dir)
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let physical: Vec<_> = physical_store
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        if physical.len() < logical.len() || !physical.ends_with(&logical) {
            return Err(BuiltinError::Other(format!(
                "the physical store {} does not end in the logical store directory {store_dir}",
                physical_store.display()
            )));
        }
        let root_path: PathBuf = physical[..physical.len() - logical.len()].iter().collect();
        let root_path = if root_path.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root_path
        };
        let open_dir = |path: &Path, what| {
            rustix::fs::open(
                path,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(what, path)(errno(e)))
        };
        let root = open_dir(&root_path, "open the store root")?;
        let store_path = fd_path(
            &open_dir(physical_store, "open the store directory")?,
            physical_store,
        )?;
        Ok(StoreInputs {
            root,
            store_path,
            store_dir: store_dir.trim_end_matches('/').to_string(),
            closure: closure.into_iter().collect(),
        })
    }

    /// The logical store directory.
    pub fn store_dir(&self) -> &str {
        &self.store_dir
    }

    /// Whether `logical` (a store path or a path inside one) belongs to a
    /// store path of the closure. Says nothing of where its symlinks lead.
    pub fn in_closure(&self, logical: &str) -> bool {
        self.member_of(logical).is_some()
    }

    /// The closure member `logical` names, when it names one.
    fn member_of<'a>(&self, logical: &'a str) -> Option<&'a str> {
        let rest = logical
            .strip_prefix(self.store_dir.as_str())?
            .strip_prefix('/')?;
        let base = rest.split('/').next()?;
        self.closure.contains(base).then_some(base)
    }

    /// Opens `logical` (a path in the store, as a derivation writes it) for
    /// reading. The kernel resolves it inside the store's physical root,
    /// following symlinks (absolute ones from that root); the result must lie
    /// in a store path of the input closure.
    pub fn open(&self, logical: &str) -> Result<InputFile, BuiltinError> {
        let not_in_store = || BuiltinError::NotInStore(logical.to_owned());
        // Refuses `.`/`..` after the hash part and malformed names.
        let dir = b8g_store::format::store_path::StoreDir::new(&self.store_dir)
            .map_err(|e| BuiltinError::Other(e.to_string()))?;
        dir.parse_path_prefix(logical).map_err(|e| match e {
            b8g_store::format::store_path::StorePathError::NotInStore { .. } => not_in_store(),
            e => BuiltinError::BadInput {
                path: logical.to_owned(),
                why: e.to_string(),
            },
        })?;
        if self.member_of(logical).is_none() {
            return Err(BuiltinError::NotInClosure {
                path: logical.to_owned(),
                resolved: logical.to_owned(),
            });
        }
        let fd = super::openat2_retrying(
            &self.root,
            logical.trim_start_matches('/'),
            // O_NONBLOCK: opening a FIFO must not hang the build.
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| io_err("open input", logical)(errno(e)))?;
        let path = fd_path(&fd, Path::new(logical))?;
        let resolved = path
            .strip_prefix(&self.store_path)
            .ok()
            .and_then(|r| r.to_str())
            .map(|r| format!("{}/{r}", self.store_dir));
        match resolved {
            Some(l) if self.member_of(&l).is_some() => Ok(InputFile {
                fd,
                path,
                logical: l,
            }),
            _ => Err(BuiltinError::NotInClosure {
                path: logical.to_owned(),
                resolved: path.display().to_string(),
            }),
        }
    }

    /// Where the closure member `logical` (a store path, no sub-path) is,
    /// without following it when it is itself a symlink: for tools that copy
    /// a store path as it is (symlinks stay symlinks). The store directory's
    /// path is canonical, so only the last component could be a link.
    pub fn member(&self, logical: &str) -> Result<PathBuf, BuiltinError> {
        let dir = b8g_store::format::store_path::StoreDir::new(&self.store_dir)
            .map_err(|e| BuiltinError::Other(e.to_string()))?;
        let path = dir.parse_path(logical).map_err(|e| match e {
            b8g_store::format::store_path::StorePathError::NotInStore { .. } => {
                BuiltinError::NotInStore(logical.to_owned())
            }
            e => BuiltinError::BadInput {
                path: logical.to_owned(),
                why: e.to_string(),
            },
        })?;
        let base = path.to_string();
        if !self.closure.contains(&base) {
            return Err(BuiltinError::NotInClosure {
                path: logical.to_owned(),
                resolved: logical.to_owned(),
            });
        }
        Ok(self.store_path.join(base))
    }

    /// Where `logical` is on this machine, after [`Self::open`]'s checks. The
    /// path is canonical and inside an immutable valid store path, so tools
    /// that want a path (and walk it without following symlinks) may use it.
    pub fn resolve(&self, logical: &str) -> Result<PathBuf, BuiltinError> {
        Ok(self.open(logical)?.path)
    }
}

impl InputFile {
    /// The physical path (canonical, inside the input closure).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The logical path, with every symlink resolved.
    pub fn logical(&self) -> &str {
        &self.logical
    }

    pub fn metadata(&self) -> Result<std::fs::Metadata, BuiltinError> {
        File::from(self.fd.try_clone().map_err(io_err("stat", &self.path))?)
            .metadata()
            .map_err(io_err("stat", &self.path))
    }

    pub fn is_dir(&self) -> bool {
        self.metadata().is_ok_and(|m| m.is_dir())
    }

    /// The open file, for reading.
    pub fn into_file(self) -> File {
        File::from(self.fd)
    }

    /// Its whole contents.
    pub fn read(self) -> Result<Vec<u8>, BuiltinError> {
        let path = self.path.clone();
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut self.into_file(), &mut buf).map_err(io_err("read", path))?;
        Ok(buf)
    }

    /// The names in this directory (without `.` and `..`), sorted.
    pub fn read_dir_names(&self) -> Result<Vec<OsString>, BuiltinError> {
        let dir = rustix::fs::Dir::read_from(&self.fd)
            .map_err(|e| io_err("read directory", &self.path)(errno(e)))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| io_err("read directory", &self.path)(errno(e)))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
        names.sort();
        Ok(names)
    }
}
