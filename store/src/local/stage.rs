//! Taking a build's output into the store directory: the tree a builder left
//! in its scratch directory is brought under a temporary name in the store
//! directory, given to us and made canonical (read-only, mtime 1) there, and
//! only then renamed to its final name. It is brought in one of two ways
//! ([`Intake`]): copied into fresh inodes, or moved.
//!
//! Why copy rather than move: the builder is untrusted, and a fixed-output
//! build shares the host's network, so it can hand an open descriptor of its
//! output to a host process over an abstract Unix socket (the class of Nix's
//! CVE-2024-27297). A renamed output keeps its inode, still writable through
//! that descriptor after registration (and `optimise` would hard-link other
//! paths' identical files to it). A copy leaves whatever the build held
//! pointing at the scratch tree, which is then removed.
//!
//! Why not always copy: a copy creates every file anew, which costs about as
//! much as the build wrote (measured here: 5 000 small files ~2.5-5 s instead of
//! ~0.1-0.5 s in place; one 256 MiB file ~0.1-0.2 s, copied in the kernel).
//! Other builds have no network namespace in common with the host and all
//! their processes are dead when their outputs are taken, so nothing of
//! theirs can hold a descriptor: moving them, then taking ownership and
//! canonicalising under the temporary name, is enough.
//!
//! The source is read relative to directory descriptors, never following a
//! symlink and checking each entry's type on the opened descriptor, so a
//! source changed during the copy (by such a host process) can change what is
//! copied (which the caller then hashes) but never make us read outside it.
//!
//! This module neither hashes nor registers: see `add.rs`.

use std::ffi::{CStr, OsStr};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStrExt;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::add::TempEntry;
use super::error::{io_err, Error};
use super::fsutil::{canonicalise, remove_tree};
use super::lock::GcLock;
use super::LocalStore;

/// How a build's output is brought into the store directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Copied into fresh inodes: for outputs of builds that may have handed
    /// out descriptors (fixed-output builds share the host's network).
    Copy,
    /// Renamed (on the same file system; copied otherwise), then given to us:
    /// for builds none of whose processes or descriptors outlive them.
    Move,
}

/// A build output copied into fresh, canonical inodes under a temporary name
/// in the store directory ([`LocalStore::stage_output`]); removed on drop
/// unless [`install`](Self::install)ed. Holds the GC lock shared, so GC does
/// not take the temporary name for a leftover.
pub struct StagedOutput {
    temp: TempEntry,
    dest: PathBuf,
    _gc: GcLock,
}

impl std::fmt::Debug for StagedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedOutput")
            .field("temp", &self.temp.path)
            .field("dest", &self.dest)
            .finish()
    }
}

impl StagedOutput {
    /// Where the copy is now (to hash or compare it before installing).
    pub fn path(&self) -> &Path {
        &self.temp.path
    }

    /// Renames the copy to its destination, replacing a leftover there. The
    /// caller holds the destination's path lock; the tree is still invalid
    /// until registered.
    pub fn install(mut self) -> Result<(), Error> {
        remove_tree(&self.dest)?;
        fs::rename(&self.temp.path, &self.dest).map_err(io_err("move into place", &self.dest))?;
        self.temp.armed = false;
        Ok(())
    }
}

impl LocalStore {
    /// Copies the build output at `base/rel` into fresh inodes owned by the
    /// current user, made canonical, under a temporary name in the store
    /// directory, for [`StagedOutput::install`] to move to `dest` (a path in
    /// the physical store directory). `base` is trusted (created by the
    /// caller); nothing below it is: `rel` is resolved beneath it without
    /// following symlinks, and so is every entry of the tree. Regular files,
    /// directories and symlinks are copied; anything else is refused.
    /// With [`Intake::Move`] the tree is renamed instead when it can be, then
    /// its entries are given to us (`lchown`) before being made canonical.
    pub fn stage_output(
        &self,
        base: &Path,
        rel: &Path,
        dest: &Path,
        intake: Intake,
    ) -> Result<StagedOutput, Error> {
        let gc = self.lock_gc_shared()?;
        let temp = TempEntry::new(self);
        let src = base.join(rel);
        let sys = |op: &'static str, path: &Path| {
            let path = path.to_owned();
            move |e: Errno| io_err(op, &path)(e.into())
        };
        let base_fd = rustix::fs::open(
            base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("open", base))?;
        let (parent, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p, n),
            _ => {
                return Err(Error::BadSource {
                    path: src,
                    reason: "not a path below the scratch directory".into(),
                })
            }
        };
        let parent_fd = if parent.as_os_str().is_empty() {
            base_fd
        } else {
            crate::openat::openat2_retrying(
                &base_fd,
                parent,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(sys("open", &base.join(parent)))?
        };
        let name = std::ffi::CString::new(name.as_bytes()).map_err(|_| Error::BadSource {
            path: src.clone(),
            reason: "name contains a NUL byte".into(),
        })?;
        let store_fd = rustix::fs::open(
            &self.real_store,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("open", &self.real_store))?;
        let temp_name = temp
            .path
            .file_name()
            .expect("a temporary entry has a name")
            .to_owned();
        let moved = intake == Intake::Move
            && match rustix::fs::renameat(&parent_fd, &name, &store_fd, Path::new(&temp_name)) {
                Ok(()) => true,
                // The scratch directory is on another file system: copy.
                Err(Errno::XDEV) => false,
                Err(e) => return Err(sys("move", &src)(e)),
            };
        if moved {
            own_tree(&temp.path)?;
        } else {
            copy_entry(
                parent_fd.as_fd(),
                &name,
                &src,
                store_fd.as_fd(),
                Path::new(&temp_name),
                &temp.path,
            )?;
        }
        canonicalise(&temp.path, &mut Vec::new())?;
        Ok(StagedOutput {
            temp,
            dest: dest.to_owned(),
            _gc: gc,
        })
    }
}

/// Gives every entry of the tree at `path` (ours to walk: it is under a
/// temporary name in the store directory) to the current user and group.
/// Builds run as a separate unprivileged uid when we are root.
fn own_tree(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(io_err("change owner of", path))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
            let entry = entry.map_err(io_err("read directory", path))?;
            own_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Copies the entry `name` of directory `src_dir` (at `src` on the host, for
/// messages) to the new entry `dst_name` of `dst_dir` (at `dst`).
fn copy_entry(
    src_dir: BorrowedFd<'_>,
    name: &CStr,
    src: &Path,
    dst_dir: BorrowedFd<'_>,
    dst_name: &Path,
    dst: &Path,
) -> Result<(), Error> {
    let sys = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |e: Errno| io_err(op, &path)(e.into())
    };
    // NONBLOCK: opening a FIFO planted in the output must not hang us.
    let fd = match rustix::fs::openat(
        src_dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Err(Errno::LOOP) => {
            // A symlink: copied as the link itself, never followed.
            let target =
                rustix::fs::readlinkat(src_dir, name, Vec::new()).map_err(sys("read link", src))?;
            rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name)
                .map_err(sys("create link", dst))?;
            return Ok(());
        }
        r => r.map_err(sys("open", src))?,
    };
    let stat = rustix::fs::fstat(&fd).map_err(sys("stat", src))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {
            let mode = if stat.st_mode & 0o111 != 0 {
                0o555
            } else {
                0o444
            };
            let out = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            )
            .map_err(sys("create", dst))?;
            copy_data(&fd, &out, stat.st_size.max(0) as u64, src, dst)
        }
        FileType::Directory => {
            rustix::fs::mkdirat(dst_dir, dst_name, Mode::from_raw_mode(0o755))
                .map_err(sys("create directory", dst))?;
            let out = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(sys("open", dst))?;
            // Names first, then the copies: fewer descriptors open per level.
            let mut names = Vec::new();
            let mut dir = rustix::fs::Dir::read_from(&fd).map_err(sys("read directory", src))?;
            while let Some(entry) = dir.read() {
                let entry = entry.map_err(sys("read directory", src))?;
                let child = entry.file_name();
                if child != c"." && child != c".." {
                    names.push(child.to_owned());
                }
            }
            drop(dir);
            for child in &names {
                let child_name = Path::new(OsStr::from_bytes(child.to_bytes()));
                copy_entry(
                    fd.as_fd(),
                    child,
                    &src.join(child_name),
                    out.as_fd(),
                    child_name,
                    &dst.join(child_name),
                )?;
            }
            Ok(())
        }
        _ => Err(Error::BadSource {
            path: src.to_owned(),
            reason: "not a regular file, directory or symlink".into(),
        }),
    }
}

/// Copies `from` into `to`, at most `size` bytes (its size when opened: a
/// file that a host process keeps growing must not keep us copying).
fn copy_data(from: &OwnedFd, to: &OwnedFd, size: u64, src: &Path, dst: &Path) -> Result<(), Error> {
    let mut left = size;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::copy_file_range(from, None, to, None, chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n as u64,
            Err(Errno::INTR) => {}
            // Not supported between these files: copy through memory.
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => break,
            Err(e) => return Err(io_err("copy", dst)(e.into())),
        }
    }
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = match rustix::io::read(from, &mut buf[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(io_err("read", src)(e.into())),
        };
        let mut done = 0;
        while done < n {
            match rustix::io::write(to, &buf[done..n]) {
                Ok(w) => done += w,
                Err(Errno::INTR) => {}
                Err(e) => return Err(io_err("write", dst)(e.into())),
            }
        }
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::{Seek, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use super::Intake;
    use crate::format::store_path::StoreDir;
    use crate::local::{LocalStore, StoreConfig};

    fn store(root: &Path) -> LocalStore {
        LocalStore::open(&StoreConfig {
            store_dir: StoreDir::new("/b8g/store").expect("store dir"),
            state_dir: "/b8g/var/b8g".into(),
            root: Some(root.to_owned()),
        })
        .expect("open store")
    }

    /// Every entry of the tree: owned by us, no write bit, mtime 1, and
    /// none shares an inode with the source tree.
    fn assert_fresh_and_canonical(p: &Path, src_inodes: &[u64]) {
        let m = fs::symlink_metadata(p).expect("stat");
        assert_eq!(
            m.uid(),
            rustix::process::geteuid().as_raw(),
            "{}",
            p.display()
        );
        assert!(
            !src_inodes.contains(&m.ino()),
            "{} shares an inode",
            p.display()
        );
        if m.file_type().is_symlink() {
            return;
        }
        assert_eq!(
            m.permissions().mode() & 0o222,
            0,
            "{} is writable",
            p.display()
        );
        assert_eq!(m.mtime(), 1, "{}", p.display());
        if m.is_dir() {
            for e in fs::read_dir(p).expect("read dir") {
                assert_fresh_and_canonical(&e.expect("entry").path(), src_inodes);
            }
        }
    }

    fn inodes(p: &Path, out: &mut Vec<u64>) {
        let m = fs::symlink_metadata(p).expect("stat");
        out.push(m.ino());
        if m.is_dir() {
            for e in fs::read_dir(p).expect("read dir") {
                inodes(&e.expect("entry").path(), out);
            }
        }
    }

    #[test]
    fn staged_output_is_a_fresh_canonical_copy_out_of_reach_of_old_descriptors() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = store(d.path());
        let scratch = d.path().join("scratch");
        let out = scratch.join("store/out");
        fs::create_dir_all(out.join("sub")).expect("mkdir");
        fs::write(out.join("data"), "good\n").expect("write");
        fs::write(out.join("sub/tool"), "#!x\n").expect("write");
        fs::set_permissions(out.join("sub/tool"), fs::Permissions::from_mode(0o775))
            .expect("chmod");
        std::os::unix::fs::symlink("/etc/passwd", out.join("link")).expect("symlink");
        // What a builder keeps open and hands to a host process.
        let mut held = fs::OpenOptions::new()
            .write(true)
            .open(out.join("data"))
            .expect("open");
        let mut src_inodes = Vec::new();
        inodes(&out, &mut src_inodes);

        let dest = s
            .real_store_dir()
            .join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-out");
        let staged = s
            .stage_output(&scratch, Path::new("store/out"), &dest, Intake::Copy)
            .expect("stage");
        assert!(!dest.exists(), "visible at its final name before install");
        assert_fresh_and_canonical(staged.path(), &src_inodes);
        staged.install().expect("install");
        assert_fresh_and_canonical(&dest, &src_inodes);
        assert_eq!(
            fs::metadata(dest.join("sub/tool"))
                .expect("stat")
                .permissions()
                .mode()
                & 0o777,
            0o555
        );
        assert_eq!(
            fs::read_link(dest.join("link")).expect("link"),
            Path::new("/etc/passwd")
        );

        held.rewind().expect("seek");
        held.write_all(b"EVIL!")
            .expect("the old descriptor still writes");
        assert_eq!(
            fs::read_to_string(dest.join("data")).expect("read"),
            "good\n"
        );
    }

    #[test]
    fn staging_refuses_fifos_and_symlinked_parents_and_cleans_up() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = store(d.path());
        let scratch = d.path().join("scratch");
        fs::create_dir_all(scratch.join("store/out")).expect("mkdir");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            scratch.join("store/out/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .expect("mkfifo");
        let dest = s
            .real_store_dir()
            .join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-out");
        let err = s
            .stage_output(&scratch, Path::new("store/out"), &dest, Intake::Copy)
            .expect_err("a FIFO is refused");
        assert!(err.to_string().contains("not a regular file"), "{err}");

        // A parent swapped for a symlink to a host directory is not followed.
        fs::create_dir_all(d.path().join("host/secret")).expect("mkdir");
        fs::rename(scratch.join("store"), scratch.join("old")).expect("rename");
        std::os::unix::fs::symlink(d.path().join("host"), scratch.join("store")).expect("link");
        s.stage_output(&scratch, Path::new("store/secret"), &dest, Intake::Move)
            .expect_err("a symlinked parent is refused");

        assert!(!dest.exists());
        let left: Vec<_> = fs::read_dir(s.real_store_dir())
            .expect("read store")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n != ".links")
            .collect();
        assert!(left.is_empty(), "temporary entries left: {left:?}");
    }

    #[test]
    fn moved_output_is_canonical_and_ours_before_install() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = store(d.path());
        let scratch = d.path().join("scratch");
        let out = scratch.join("store/out");
        fs::create_dir_all(out.join("sub")).expect("mkdir");
        fs::write(out.join("sub/f"), "x").expect("write");
        fs::set_permissions(out.join("sub/f"), fs::Permissions::from_mode(0o4777)).expect("chmod");
        let dest = s
            .real_store_dir()
            .join("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-out");
        let staged = s
            .stage_output(&scratch, Path::new("store/out"), &dest, Intake::Move)
            .expect("stage");
        assert!(!out.exists(), "moved, not copied");
        assert!(!dest.exists(), "visible at its final name before install");
        assert_fresh_and_canonical(staged.path(), &[]);
        assert_eq!(
            fs::metadata(staged.path().join("sub/f"))
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777,
            0o555,
            "the setuid bit survived"
        );
        staged.install().expect("install");
        assert_eq!(fs::read_to_string(dest.join("sub/f")).expect("read"), "x");
    }
}
