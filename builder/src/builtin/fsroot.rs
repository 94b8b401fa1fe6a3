//! Containment of builtin builders: every file a builtin reads or writes is
//! resolved by the kernel inside a directory fd, never by walking host paths.
//!
//! Builtins run in-process as root with no sandbox, and any derivation may name
//! them, so their inputs and tree descriptions are hostile. Two handles give
//! them file access:
//! - [`StoreInputs`] opens a logical store path for reading with
//!   `openat2(RESOLVE_IN_ROOT)` from the physical directory that holds the
//!   logical store directory (so absolute in-store symlinks resolve as they do
//!   in the sandbox and `..` cannot climb above that root), then checks that
//!   what was opened lies in a store path of the derivation's input closure.
//!   The root alone is not enough: for a store at `/b8g/store` it is `/`.
//! - [`OutputTree`] creates files, directories and symlinks beneath one output
//!   with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, and creates the last
//!   component exclusively (`O_EXCL`, `mkdirat`, `symlinkat`), so no symlink —
//!   not even one the builtin made itself a moment before — is ever followed.
//!
//! This module does not parse any builtin's input format; it only opens files.

use super::BuiltinError;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BuiltinError {
    let path = path.into();
    move |source| BuiltinError::Io { op, path, source }
}

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The physical path an fd refers to, as the kernel reports it.
fn fd_path(fd: &OwnedFd, what: &Path) -> Result<PathBuf, BuiltinError> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::read_link(&link).map_err(io_err("find where the kernel resolved", what))
}

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
        let fd = rustix::fs::openat2(
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

/// Write access to one output of a builtin build, which does not exist yet.
///
/// Invariant: everything it creates is beneath the output, and no symlink is
/// followed on the way there.
pub struct OutputTree {
    /// The (trusted) directory the realiser made for the output to appear in.
    parent: OwnedFd,
    /// The output's name in `parent`.
    name: String,
    /// Where the output is, for messages.
    path: PathBuf,
}

const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

impl OutputTree {
    /// The output at `path`; its parent directory must exist.
    pub fn new(path: &Path) -> Result<Self, BuiltinError> {
        let (parent, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
            (Some(p), Some(n)) => (p, n),
            _ => {
                return Err(BuiltinError::Other(format!(
                    "output {} has no parent directory",
                    path.display()
                )))
            }
        };
        let parent = rustix::fs::open(
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("open output directory", parent)(errno(e)))?;
        Ok(OutputTree {
            parent,
            name: name.to_string(),
            path: path.to_path_buf(),
        })
    }

    /// Where the output is (for messages and for tools that are handed a
    /// path the builtin made itself).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shown(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Splits `rel` (empty for the output itself) into the directory to
    /// create in, opened beneath the output, and the last name.
    fn parent_of(&self, rel: &str) -> Result<(OwnedFd, String), BuiltinError> {
        let rel = checked_relative(rel)?;
        let full = if rel.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{rel}", self.name)
        };
        let (dir, last) = match full.rsplit_once('/') {
            Some((d, l)) => (d, l),
            None => (".", full.as_str()),
        };
        let fd = rustix::fs::openat2(
            &self.parent,
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            BENEATH,
        )
        .map_err(|e| match e {
            // RESOLVE_NO_SYMLINKS / RESOLVE_NO_XDEV refused the path.
            rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => BuiltinError::NotBeneath {
                path: self.shown(rel),
                why: "a symlink is in the way",
            },
            e => io_err("open directory beneath the output", self.shown(rel))(errno(e)),
        })?;
        Ok((fd, last.to_string()))
    }

    /// Creates the directory `rel` (empty: the output itself).
    pub fn create_dir(&self, rel: &str, mode: u32) -> Result<(), BuiltinError> {
        let (dir, name) = self.parent_of(rel)?;
        rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(mode))
            .map_err(|e| io_err("create directory", self.shown(rel))(errno(e)))
    }

    /// Creates `rel` and each missing directory above it (0755); existing
    /// directories are kept, anything else in the way is an error.
    pub fn create_dir_all(&self, rel: &str) -> Result<(), BuiltinError> {
        let rel = checked_relative(rel)?;
        let mut prefix = String::new();
        let parts = std::iter::once("").chain(rel.split('/').filter(|c| !c.is_empty()));
        for part in parts {
            if !part.is_empty() {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
            }
            match self.create_dir(&prefix, 0o755) {
                Err(BuiltinError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists =>
                {
                    if !self.is_dir(&prefix)? {
                        return Err(BuiltinError::NotBeneath {
                            path: self.shown(&prefix),
                            why: "something that is not a directory is in the way",
                        });
                    }
                }
                r => r?,
            }
        }
        Ok(())
    }

    /// Whether `rel` is a directory (not a symlink to one).
    pub fn is_dir(&self, rel: &str) -> Result<bool, BuiltinError> {
        Ok(self
            .kind(rel)?
            .is_some_and(|t| t == rustix::fs::FileType::Directory))
    }

    /// What `rel` is (a symlink is reported as such), or `None`.
    pub fn kind(&self, rel: &str) -> Result<Option<rustix::fs::FileType>, BuiltinError> {
        let (dir, name) = self.parent_of(rel)?;
        match rustix::fs::statat(&dir, name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(rustix::fs::FileType::from_raw_mode(st.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("stat", self.shown(rel))(errno(e))),
        }
    }

    /// Creates the regular file `rel` (it must not exist) with `mode`.
    pub fn create_file(&self, rel: &str, mode: u32) -> Result<File, BuiltinError> {
        let (dir, name) = self.parent_of(rel)?;
        let fd = rustix::fs::openat(
            &dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o777),
        )
        .map_err(|e| io_err("create file", self.shown(rel))(errno(e)))?;
        // The umask may have cleared bits the output needs.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| io_err("chmod", self.shown(rel))(errno(e)))?;
        Ok(File::from(fd))
    }

    /// Creates the file `rel` holding `bytes`.
    pub fn write_file(&self, rel: &str, bytes: &[u8], mode: u32) -> Result<(), BuiltinError> {
        let mut f = self.create_file(rel, mode)?;
        f.write_all(bytes).map_err(io_err("write", self.shown(rel)))
    }

    /// Creates the symlink `rel` pointing at `target` (never followed here).
    pub fn symlink(&self, rel: &str, target: &str) -> Result<(), BuiltinError> {
        let (dir, name) = self.parent_of(rel)?;
        rustix::fs::symlinkat(target, &dir, name.as_str())
            .map_err(|e| io_err("create symlink", self.shown(rel))(errno(e)))
    }

    /// Makes `rel` a hard link to `existing`, both beneath the output; a
    /// symlink at `existing` is linked itself, not followed.
    pub fn hard_link(&self, existing: &str, rel: &str) -> Result<(), BuiltinError> {
        let (from_dir, from) = self.parent_of(existing)?;
        let (to_dir, to) = self.parent_of(rel)?;
        rustix::fs::linkat(
            &from_dir,
            from.as_str(),
            &to_dir,
            to.as_str(),
            rustix::fs::AtFlags::empty(),
        )
        .map_err(|e| io_err("create hard link", self.shown(rel))(errno(e)))
    }

    /// Copies an input file to the new file `rel`.
    pub fn copy_from(&self, input: InputFile, rel: &str, mode: u32) -> Result<(), BuiltinError> {
        let from = input.path.clone();
        let mut out = self.create_file(rel, mode)?;
        io::copy(&mut input.into_file(), &mut out).map_err(io_err("copy", from))?;
        Ok(())
    }

    /// Creates the file `rel` from what `reader` yields (bytes the builtin
    /// produced itself, such as a download it verified).
    pub fn write_from(
        &self,
        rel: &str,
        mut reader: impl io::Read,
        mode: u32,
    ) -> Result<(), BuiltinError> {
        let mut out = self.create_file(rel, mode)?;
        io::copy(&mut reader, &mut out).map_err(io_err("write", self.shown(rel)))?;
        Ok(())
    }
}

/// `rel` with every component a plain name (no `..`, `.`, root or empty
/// components, which a tree description must not use); `""` is the output.
pub fn checked_relative(rel: &str) -> Result<&str, BuiltinError> {
    let rel = rel.trim_end_matches('/');
    if rel.is_empty() {
        return Ok(rel);
    }
    let plain = !rel.contains('\0')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if plain {
        Ok(rel)
    } else {
        Err(BuiltinError::BadSpec(format!(
            "{rel:?} is not a plain relative path"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    const IN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-in";
    const OTHER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-other";

    /// A chroot store whose closure is `IN`, with links of every kind in it,
    /// a valid-looking path `OTHER` outside the closure and a secret outside
    /// the store.
    fn fixture() -> (tempfile::TempDir, StoreInputs) {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("b8g/store");
        let input = store.join(IN);
        fs::create_dir_all(input.join("d/e")).unwrap();
        fs::create_dir_all(store.join(OTHER)).unwrap();
        fs::write(store.join(OTHER).join("f"), "other").unwrap();
        fs::write(dir.path().join("secret"), "secret").unwrap();
        fs::write(input.join("f"), "in").unwrap();
        symlink("../../../../../../secret", input.join("up")).unwrap();
        symlink("/secret", input.join("abs")).unwrap();
        symlink(format!("/b8g/store/{OTHER}/f"), input.join("other")).unwrap();
        symlink(format!("/b8g/store/{IN}/f"), input.join("self")).unwrap();
        symlink("..", input.join("d/parent")).unwrap();
        symlink("loop", input.join("loop")).unwrap();
        let inputs = StoreInputs::new(&store, "/b8g/store", [IN.to_string()]).unwrap();
        (dir, inputs)
    }

    #[test]
    fn opens_inside_the_closure_and_refuses_the_rest() {
        let (dir, inputs) = fixture();
        let p = |rest: &str| format!("/b8g/store/{IN}{rest}");
        assert_eq!(inputs.open(&p("/f")).unwrap().read().unwrap(), b"in");
        assert_eq!(inputs.open(&p("/self")).unwrap().read().unwrap(), b"in");
        assert!(inputs.open(&p("/d/parent/f")).is_ok());
        for bad in ["/up", "/abs", "/other"] {
            let e = inputs.open(&p(bad)).unwrap_err();
            assert!(matches!(e, BuiltinError::NotInClosure { .. }), "{bad}: {e}");
        }
        assert!(inputs.open(&p("/loop")).is_err());
        assert!(matches!(
            inputs.open(&p("/../../../secret")).unwrap_err(),
            BuiltinError::BadInput { .. }
        ));
        assert!(matches!(
            inputs.open(&format!("/b8g/store/{OTHER}/f")).unwrap_err(),
            BuiltinError::NotInClosure { .. }
        ));
        assert!(matches!(
            inputs.open(&dir.path().join("secret").display().to_string()),
            Err(BuiltinError::NotInStore(_))
        ));
    }

    #[test]
    fn members_are_not_followed_and_must_be_in_the_closure() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("b8g/store");
        fs::create_dir_all(&store).unwrap();
        symlink("/etc", store.join(IN)).unwrap();
        let inputs = StoreInputs::new(&store, "/b8g/store", [IN.to_string()]).unwrap();
        let m = inputs.member(&format!("/b8g/store/{IN}")).unwrap();
        assert!(fs::symlink_metadata(&m).unwrap().file_type().is_symlink());
        assert!(matches!(
            inputs.member(&format!("/b8g/store/{OTHER}")),
            Err(BuiltinError::NotInClosure { .. })
        ));
        assert!(inputs.member(&format!("/b8g/store/{IN}/sub")).is_err());
        assert!(matches!(
            inputs.member("/etc"),
            Err(BuiltinError::NotInStore(_))
        ));
        // Opened, it leads out of the closure.
        assert!(inputs.open(&format!("/b8g/store/{IN}/passwd")).is_err());
    }

    #[test]
    fn a_store_reached_through_a_symlinked_directory_still_opens() {
        // `<root>/b8g -> data/b8g`, as `/b8g -> /data/b8g` on a real machine.
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("data/b8g/store");
        fs::create_dir_all(real.join(IN)).unwrap();
        fs::write(real.join(IN).join("f"), "in").unwrap();
        symlink(format!("/b8g/store/{IN}/f"), real.join(IN).join("abs")).unwrap();
        symlink("data/b8g", dir.path().join("b8g")).unwrap();
        let inputs = StoreInputs::new(
            &dir.path().join("b8g/store"),
            "/b8g/store",
            [IN.to_string()],
        )
        .unwrap();
        let f = inputs.open(&format!("/b8g/store/{IN}/abs")).unwrap();
        assert_eq!(f.logical(), format!("/b8g/store/{IN}/f"));
        assert_eq!(f.read().unwrap(), b"in");
    }

    #[test]
    fn output_writes_never_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let out = OutputTree::new(&dir.path().join("out")).unwrap();
        out.create_dir("", 0o755).unwrap();
        out.symlink("a", outside.to_str().unwrap()).unwrap();
        out.symlink("up", "..").unwrap();
        for rel in ["a/x", "up/x", "a/b/c"] {
            assert!(out.write_file(rel, b"pwned", 0o644).is_err(), "{rel}");
            assert!(out.create_dir_all(rel).is_err(), "{rel}");
            assert!(out.symlink(rel, "/").is_err(), "{rel}");
        }
        assert!(out.write_file("a", b"pwned", 0o644).is_err());
        assert!(out.hard_link("a", "b").is_ok(), "links the symlink itself");
        assert!(out.write_file("../x", b"pwned", 0o644).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["out", "outside"]);
    }

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            Just(IN.to_string()),
            Just(OTHER.to_string()),
            Just("b8g".to_string()),
            Just("store".to_string()),
            Just("secret".to_string()),
            "(up|abs|other|self|d|e|f|parent|loop)",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

        /// Whatever path a derivation names, what opens lies in the closure.
        #[test]
        fn open_never_leaves_the_closure(
            parts in proptest::collection::vec(component(), 0..8),
            prefixed in any::<bool>(),
        ) {
            let (dir, inputs) = fixture();
            let tail = parts.join("/");
            let logical = if prefixed {
                format!("/b8g/store/{IN}/{tail}")
            } else {
                format!("/{tail}")
            };
            if let Ok(f) = inputs.open(&logical) {
                let member = dir.path().canonicalize().unwrap().join("b8g/store").join(IN);
                prop_assert!(f.path().starts_with(&member), "{} opened {}", logical, f.path().display());
                let prefix = format!("/b8g/store/{IN}");
                prop_assert!(f.logical().starts_with(&prefix));
            }
        }

        /// Whatever relative path is written to, nothing appears outside the output.
        #[test]
        fn output_writes_stay_beneath(
            ops in proptest::collection::vec((0u8..4, proptest::collection::vec(component(), 1..4)), 0..8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let out = OutputTree::new(&dir.path().join("out")).unwrap();
            out.create_dir("", 0o755).unwrap();
            for (op, parts) in ops {
                let rel = parts.join("/");
                let _ = match op {
                    0 => out.write_file(&rel, b"x", 0o644),
                    1 => out.create_dir_all(&rel),
                    2 => out.symlink(&rel, ".."),
                    _ => out.symlink(&rel, dir.path().to_str().unwrap()),
                };
            }
            let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            prop_assert_eq!(names, vec!["out"]);
        }
    }
}
