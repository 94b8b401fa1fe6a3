//! File system access for paths a service may have planted things at.
//!
//! PID 1 runs as root and must never block, so a file a service could write (a
//! `PIDFile=`, an `EnvironmentFile=` in a directory it owns) is read only if it is a
//! regular file, without waiting on a FIFO or opening a device, and only up to a bound.
//! Exec directories (`StateDirectory=` and friends) are created and chowned beneath
//! their base without following any symlink: a service that owns `/var/lib/a` may put
//! a symlink at `/var/lib/a/b`, and PID 1 must not chown whatever that points at.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Why a planted-file read or an exec directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum SafeFsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is a {what}, not a regular file")]
    NotRegular { path: String, what: &'static str },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: usize },
    #[error("{path} is a {what}, not a directory (refusing to follow or replace it)")]
    NotDirectory { path: String, what: &'static str },
    #[error("{path}: {why}")]
    BadName { path: String, why: &'static str },
}

fn io_err(path: &Path, source: std::io::Error) -> SafeFsError {
    SafeFsError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn cstr(path: &Path) -> Result<CString, SafeFsError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SafeFsError::BadName {
        path: path.display().to_string(),
        why: "contains a NUL byte",
    })
}

fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "FIFO",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        _ => "special file",
    }
}

fn fstat(fd: &OwnedFd, path: &Path) -> Result<libc::stat, SafeFsError> {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the lifetime of `fd`; st is a valid out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io_err(path, std::io::Error::last_os_error()));
    }
    Ok(st)
}

fn open_at(dir: libc::c_int, name: &CString, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; dir is AT_FDCWD or an fd the caller holds open.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads a file a service may have planted: only a regular file (symlinks to one are
/// followed, as systemd does for PID files; the caller judges ownership), opened so
/// that neither a FIFO nor a device can block or be touched, and at most `max` bytes.
pub fn read_regular(path: &Path, max: usize) -> Result<String, SafeFsError> {
    read_regular_with_owner(path, max).map(|(text, _)| text)
}

/// [`read_regular`], with the uid owning the very file read (not whatever sits at the
/// path a moment later), for callers that trust a file by its owner.
pub fn read_regular_with_owner(path: &Path, max: usize) -> Result<(String, u32), SafeFsError> {
    let c = cstr(path)?;
    // O_PATH opens nothing: no FIFO open to wait on, no device driver's open() run
    // (opening /dev/watchdog arms it). The type is checked before any real open.
    let probe =
        open_at(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_CLOEXEC).map_err(|e| io_err(path, e))?;
    let st = fstat(&probe, path)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(SafeFsError::NotRegular {
            path: path.display().to_string(),
            what: kind_of(st.st_mode),
        });
    }
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // Reopen that very inode through /proc; without /proc, the path again, and the
    // inode must be the one just checked (O_NONBLOCK keeps a swapped-in FIFO harmless).
    let via_proc = cstr(Path::new(&format!("/proc/self/fd/{}", probe.as_raw_fd())))?;
    let fd = match open_at(libc::AT_FDCWD, &via_proc, flags) {
        Ok(fd) => fd,
        Err(_) => open_at(libc::AT_FDCWD, &c, flags).map_err(|e| io_err(path, e))?,
    };
    let st2 = fstat(&fd, path)?;
    if st2.st_dev != st.st_dev || st2.st_ino != st.st_ino {
        return Err(SafeFsError::NotRegular {
            path: path.display().to_string(),
            what: "file replaced while being opened, now something else",
        });
    }
    let mut buf = Vec::new();
    std::fs::File::from(fd)
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_err(path, e))?;
    if buf.len() > max {
        return Err(SafeFsError::TooLarge {
            path: path.display().to_string(),
            max,
        });
    }
    let text = String::from_utf8(buf).map_err(|_| {
        io_err(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"),
        )
    })?;
    Ok((text, st2.st_uid))
}

/// Creates `base/rel` (and any missing directory between) and gives the last
/// component `mode` and, if given, `owner`, never following a symlink beneath `base`:
/// each component is opened with `O_NOFOLLOW|O_DIRECTORY` relative to its parent, and
/// the mode and owner are set on the opened directory. A symlink or anything but a
/// directory in the way is an error naming it. `base` itself is the administrator's
/// (`/var/lib`, `/run`, …) and is created as needed.
pub fn prepare_dir(
    base: &Path,
    rel: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), SafeFsError> {
    let full = base.join(rel);
    let bad = |why| SafeFsError::BadName {
        path: full.display().to_string(),
        why,
    };
    let mut names = Vec::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            _ => return Err(bad("must be a relative path without \"..\"")),
        }
    }
    if names.is_empty() {
        return Err(bad("names no directory beneath its base"));
    }
    std::fs::create_dir_all(base).map_err(|e| io_err(base, e))?;
    let mut dir = open_at(
        libc::AT_FDCWD,
        &cstr(base)?,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
    )
    .map_err(|e| io_err(base, e))?;
    let mut at = base.to_path_buf();
    for n in names {
        at.push(n);
        let name = cstr(Path::new(n))?;
        // Intermediate and new directories start root-owned 0755; only the last gets
        // the unit's mode and owner, below.
        // SAFETY: dir is open; name is NUL-terminated.
        if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(io_err(&at, e));
            }
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        dir = match open_at(dir.as_raw_fd(), &name, flags) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                return Err(SafeFsError::NotDirectory {
                    path: at.display().to_string(),
                    what: what_is_at(&dir, &name),
                });
            }
            Err(e) => return Err(io_err(&at, e)),
        };
    }
    if let Some((uid, gid)) = owner {
        // SAFETY: dir is an open directory fd.
        if unsafe { libc::fchown(dir.as_raw_fd(), uid, gid) } != 0 {
            return Err(io_err(&at, std::io::Error::last_os_error()));
        }
    }
    // After the chown, which clears set-id bits.
    // SAFETY: dir is an open directory fd.
    if unsafe { libc::fchmod(dir.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(io_err(&at, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Removes `base/rel` and everything in it without following a symlink beneath
/// `base`: a service that owns `base/a` may have made `base/a/b` a symlink, and
/// removing `base/a/b/c` by path would delete `c` wherever that points. The parents
/// are walked with `O_NOFOLLOW`; the last component is removed through the parent's
/// fd (std's `remove_dir_all` does not follow symlinks within the tree it removes).
/// A missing directory is not an error.
pub fn remove_beneath(base: &Path, rel: &str) -> Result<(), SafeFsError> {
    let full = base.join(rel);
    let mut names = Vec::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            _ => {
                return Err(SafeFsError::BadName {
                    path: full.display().to_string(),
                    why: "must be a relative path without \"..\"",
                })
            }
        }
    }
    let Some(last) = names.pop() else {
        return Ok(());
    };
    let mut dir = match open_at(
        libc::AT_FDCWD,
        &cstr(base)?,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
    ) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(base, e)),
    };
    let mut at = base.to_path_buf();
    for n in names {
        at.push(n);
        let name = cstr(Path::new(n))?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        dir = match open_at(dir.as_raw_fd(), &name, flags) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                return Err(SafeFsError::NotDirectory {
                    path: at.display().to_string(),
                    what: what_is_at(&dir, &name),
                });
            }
            Err(e) => return Err(io_err(&at, e)),
        };
    }
    // The magic link resolves to the directory just opened, not to its path again.
    let through_fd = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(last);
    let target = if Path::new("/proc/self/fd").is_dir() {
        through_fd
    } else {
        full.clone()
    };
    match std::fs::remove_dir_all(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&full, e)),
    }
}

/// What sits at `name` in `dir`, for the error message (without following it).
fn what_is_at(dir: &OwnedFd, name: &CString) -> &'static str {
    // SAFETY: an all-zero stat is a valid value for fstatat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is open, name NUL-terminated, st a valid out pointer.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        kind_of(st.st_mode)
    } else {
        "non-directory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_regular_files_and_refuses_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pid");
        std::fs::write(&f, "42\n").unwrap();
        assert_eq!(read_regular(&f, 4096).unwrap(), "42\n");
        let l = d.path().join("link");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert_eq!(read_regular(&l, 4096).unwrap(), "42\n");

        let fifo = d.path().join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read_regular(&fifo, 4096).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a regular file"), "{e}");

        let zero = d.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let e = read_regular(&zero, 4096).unwrap_err().to_string();
        assert!(e.contains("character device"), "{e}");

        std::fs::write(&f, "x".repeat(5000)).unwrap();
        let e = read_regular(&f, 4096).unwrap_err().to_string();
        assert!(e.contains("larger than 4096 bytes"), "{e}");
        let e = read_regular(d.path(), 4096).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn prepares_nested_dirs_and_refuses_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("var/lib");
        prepare_dir(&base, "a", 0o750, None).unwrap();
        prepare_dir(&base, "a/sub", 0o700, None).unwrap();
        let m = std::fs::metadata(base.join("a/sub")).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o7777, 0o700);
        assert_eq!(
            std::fs::metadata(base.join("a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o750
        );

        let target = d.path().join("secret");
        std::fs::write(&target, "s").unwrap();
        std::fs::set_permissions(&target, PermissionsExt::from_mode(0o600)).unwrap();
        std::fs::remove_dir(base.join("a/sub")).unwrap();
        std::os::unix::fs::symlink(&target, base.join("a/sub")).unwrap();
        let e = prepare_dir(&base, "a/sub", 0o755, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a/sub is a symlink, not a directory"), "{e}");
        // A symlinked intermediate component is refused too.
        std::fs::remove_file(base.join("a/sub")).unwrap();
        std::fs::create_dir(d.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), base.join("a/sub")).unwrap();
        let e = prepare_dir(&base, "a/sub/deeper", 0o755, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a symlink"), "{e}");
        assert!(!d.path().join("elsewhere/deeper").exists());
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert!(prepare_dir(&base, "../x", 0o755, None).is_err());

        // Removal does not go through the planted symlink either.
        std::fs::create_dir(d.path().join("elsewhere/deeper")).unwrap();
        let e = remove_beneath(&base, "a/sub/deeper")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a symlink"), "{e}");
        assert!(d.path().join("elsewhere/deeper").is_dir());
        remove_beneath(&base, "a/sub").unwrap();
        assert!(base.join("a").is_dir() && !base.join("a/sub").exists());
        assert!(d.path().join("elsewhere/deeper").is_dir());
        remove_beneath(&base, "a/gone/x").unwrap();
        remove_beneath(&base, "a").unwrap();
        assert!(!base.join("a").exists());
        assert!(prepare_dir(&base, "/abs", 0o755, None).is_err());
    }
}
