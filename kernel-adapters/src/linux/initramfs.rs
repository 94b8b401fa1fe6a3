//! Reproducible initramfs (`newc` cpio) archives.
//!
//! Entries are collected first and written sorted by path, with mtime 0,
//! uid/gid 0 and inode numbers given in that order, so the same inputs always
//! give the same bytes whatever the host's clock, user or directory order.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What went wrong while assembling or writing an initramfs.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: unsupported file type (only files, directories and symlinks are archived)")]
    FileType { path: PathBuf },
    #[error("invalid archive path {path:?}: {why}")]
    BadPath { path: String, why: &'static str },
    #[error("{path}: file of {size} bytes is too large for a newc archive (4 GiB limit)")]
    TooLarge { path: String, size: u64 },
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),
}

#[derive(Debug, Clone)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, source: Source },
    Symlink { target: String },
    CharDev { mode: u32, major: u32, minor: u32 },
}

#[derive(Debug, Clone)]
enum Source {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// An initramfs under construction. Paths are relative to the archive root,
/// without a leading `/` (`init`, `bin/sh`, `nix/store/...`).
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    entries: BTreeMap<String, Node>,
}

fn check_path(path: &str) -> Result<String, InitramfsError> {
    let p = path.trim_start_matches('/');
    let bad = |why| InitramfsError::BadPath {
        path: path.to_string(),
        why,
    };
    if p.is_empty() {
        return Err(bad("empty"));
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad("empty, '.' or '..' component"));
    }
    if p.contains('\0') {
        return Err(bad("contains NUL"));
    }
    Ok(p.to_string())
}

impl Initramfs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory and any missing parents (mode 0755 for parents).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        self.parents(&p);
        self.entries.insert(
            p,
            Node::Dir {
                mode: mode & 0o7777,
            },
        );
        Ok(self)
    }

    /// Adds a file with the given contents.
    pub fn file(
        &mut self,
        path: &str,
        mode: u32,
        contents: impl Into<Vec<u8>>,
    ) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        self.parents(&p);
        self.entries.insert(
            p,
            Node::File {
                mode: mode & 0o7777,
                source: Source::Bytes(contents.into()),
            },
        );
        Ok(self)
    }

    /// Adds a host file, read when the archive is written; keeps its permission bits.
    pub fn host_file(&mut self, path: &str, host: &Path) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        let meta = fs::metadata(host).map_err(|source| InitramfsError::Read {
            path: host.into(),
            source,
        })?;
        self.parents(&p);
        self.entries.insert(
            p,
            Node::File {
                mode: meta.permissions().mode() & 0o7777,
                source: Source::Host(host.to_path_buf()),
            },
        );
        Ok(self)
    }

    /// Adds a symlink.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        self.parents(&p);
        self.entries.insert(
            p,
            Node::Symlink {
                target: target.to_string(),
            },
        );
        Ok(self)
    }

    /// Adds a character device node (e.g. `dev/console` 5:1), so the kernel
    /// has a console before devtmpfs is mounted.
    pub fn char_dev(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        self.parents(&p);
        self.entries.insert(
            p,
            Node::CharDev {
                mode: mode & 0o7777,
                major,
                minor,
            },
        );
        Ok(self)
    }

    /// Adds a host directory tree at `path` (files, dirs and symlinks; symlinks are not followed).
    pub fn host_tree(&mut self, path: &str, host: &Path) -> Result<&mut Self, InitramfsError> {
        let p = check_path(path)?;
        self.add_tree(p, host)?;
        Ok(self)
    }

    fn add_tree(&mut self, p: String, host: &Path) -> Result<(), InitramfsError> {
        let read = |source| InitramfsError::Read {
            path: host.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(host).map_err(read)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(host).map_err(read)?;
            self.symlink(&p, &target.to_string_lossy())?;
        } else if ft.is_file() {
            self.host_file(&p, host)?;
        } else if ft.is_dir() {
            self.dir(&p, meta.mode())?;
            for entry in fs::read_dir(host).map_err(read)? {
                let entry = entry.map_err(read)?;
                let name = entry.file_name();
                self.add_tree(format!("{p}/{}", name.to_string_lossy()), &entry.path())?;
            }
        } else {
            return Err(InitramfsError::FileType {
                path: host.to_path_buf(),
            });
        }
        Ok(())
    }

    fn parents(&mut self, p: &str) {
        let mut end = 0;
        while let Some(i) = p[end..].find('/') {
            end += i;
            self.entries
                .entry(p[..end].to_string())
                .or_insert(Node::Dir { mode: 0o755 });
            end += 1;
        }
    }

    /// Number of entries (directories included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the uncompressed `newc` archive.
    pub fn write<W: Write>(&self, mut out: W) -> Result<W, InitramfsError> {
        for (ino, (path, node)) in self.entries.iter().enumerate() {
            let b = cpio::NewcBuilder::new(path)
                .ino(ino as u32 + 1)
                .uid(0)
                .gid(0)
                .mtime(0);
            let (b, data): (_, Box<dyn io::Read>) = match node {
                Node::Dir { mode } => (b.mode(0o040000 | mode).nlink(2), Box::new(io::empty())),
                Node::Symlink { target } => (
                    b.mode(0o120777),
                    Box::new(Cursor::new(target.clone().into_bytes())),
                ),
                Node::CharDev { mode, major, minor } => (
                    b.mode(0o020000 | mode)
                        .rdev_major(*major)
                        .rdev_minor(*minor),
                    Box::new(io::empty()),
                ),
                Node::File {
                    mode,
                    source: Source::Bytes(bytes),
                } => (
                    b.mode(0o100000 | mode),
                    Box::new(Cursor::new(bytes.clone())),
                ),
                Node::File {
                    mode,
                    source: Source::Host(host),
                } => {
                    let f = fs::File::open(host).map_err(|source| InitramfsError::Read {
                        path: host.clone(),
                        source,
                    })?;
                    (
                        b.mode(0o100000 | mode),
                        Box::new(io::BufReader::with_capacity(1 << 20, f)),
                    )
                }
            };
            let size = match node {
                Node::Symlink { target } => target.len() as u64,
                Node::File {
                    source: Source::Bytes(bytes),
                    ..
                } => bytes.len() as u64,
                Node::File {
                    source: Source::Host(host),
                    ..
                } => fs::metadata(host)
                    .map_err(|source| InitramfsError::Read {
                        path: host.clone(),
                        source,
                    })?
                    .len(),
                _ => 0,
            };
            let size32 = u32::try_from(size).map_err(|_| InitramfsError::TooLarge {
                path: path.clone(),
                size,
            })?;
            let mut w = b.write(out, size32);
            let copied =
                io::copy(&mut io::Read::take(data, size), &mut w).map_err(InitramfsError::Write)?;
            if copied != size {
                return Err(InitramfsError::Read {
                    path: PathBuf::from(path),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being archived",
                    ),
                });
            }
            out = w.finish().map_err(InitramfsError::Write)?;
        }
        cpio::newc::trailer(out).map_err(InitramfsError::Write)
    }

    /// Writes the archive to a file (created or truncated).
    pub fn write_to_path(&self, path: &Path) -> Result<(), InitramfsError> {
        let f = fs::File::create(path).map_err(InitramfsError::Write)?;
        let mut w = self.write(io::BufWriter::new(f))?;
        w.flush().map_err(InitramfsError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Initramfs {
        let mut i = Initramfs::new();
        i.file("init", 0o755, "#!/bin/sh\necho hi\n").unwrap();
        i.symlink("bin/sh", "busybox").unwrap();
        i.char_dev("dev/console", 0o600, 5, 1).unwrap();
        i.dir("proc", 0o755).unwrap();
        i
    }

    #[test]
    fn parents_are_created_and_entries_sorted() {
        let i = sample();
        let names: Vec<&str> = i.entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["bin", "bin/sh", "dev", "dev/console", "init", "proc"]
        );
    }

    #[test]
    fn same_input_same_bytes_and_readable_back() {
        let a = sample().write(Vec::new()).unwrap();
        let b = sample().write(Vec::new()).unwrap();
        assert_eq!(a, b);
        let mut cur = Cursor::new(a);
        let mut seen = Vec::new();
        loop {
            let r = cpio::NewcReader::new(&mut cur).unwrap();
            if r.entry().is_trailer() {
                break;
            }
            let e = r.entry();
            assert_eq!((e.uid(), e.gid(), e.mtime()), (0, 0, 0));
            seen.push((e.name().to_string(), e.mode()));
            r.finish().unwrap();
        }
        assert!(seen.contains(&("init".to_string(), 0o100755)));
        assert!(seen.contains(&("dev/console".to_string(), 0o020600)));
        assert!(seen.contains(&("bin/sh".to_string(), 0o120777)));
    }

    #[test]
    fn bad_paths_are_rejected() {
        let mut i = Initramfs::new();
        assert!(i.file("a/../b", 0o644, "x").is_err());
        assert!(i.file("", 0o644, "x").is_err());
        assert!(i.file("a//b", 0o644, "x").is_err());
    }

    #[test]
    fn host_tree_is_independent_of_directory_order() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["z", "a", "m"] {
            fs::write(dir.path().join(n), n).unwrap();
        }
        std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
        let mut i = Initramfs::new();
        i.host_tree("etc", dir.path()).unwrap();
        let names: Vec<&str> = i.entries.keys().map(String::as_str).collect();
        assert_eq!(names, ["etc", "etc/a", "etc/link", "etc/m", "etc/z"]);
    }
}
