//! The write side of builtin containment: everything beneath one output,
//! created exclusively, with no symlink followed on the way.

use super::{errno, io_err, InputFile};
use crate::builtin::BuiltinError;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

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
        let fd = super::openat2_retrying(
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
        let from = input.path().to_path_buf();
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
