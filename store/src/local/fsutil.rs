//! File-system helpers of the local store: making a tree canonical and
//! durable before it becomes valid, and removing read-only trees.
//!
//! Store objects are canonical like Nix's: directories `0555`, files `0444`
//! or `0555` (any execute bit), every modification time 1 second after the
//! epoch, so that nothing but the NAR contents distinguishes two copies.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

use super::error::{io_err, Error};

const MTIME: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

fn set_mtime(path: &Path) -> Result<(), Error> {
    let ts = Timestamps {
        last_access: MTIME,
        last_modification: MTIME,
    };
    rustix::fs::utimensat(CWD, path, &ts, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io_err("set modification time of", path)(e.into()))
}

/// Appends the files and directories of the tree at `path` (what `fsync`
/// applies to: not symlinks) to `to_sync`, for [`sync_all`].
pub(super) fn list_for_sync(path: &Path, to_sync: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
            let entry = entry.map_err(io_err("read directory", path))?;
            list_for_sync(&entry.path(), to_sync)?;
        }
        to_sync.push(path.to_owned());
    } else if meta.is_file() {
        to_sync.push(path.to_owned());
    }
    Ok(())
}

/// Makes the tree at `path` canonical without flushing it; the caller makes
/// it durable some other way (one `syncfs` for a batch) before it is valid.
pub fn canonicalise_tree(path: &Path) -> Result<(), Error> {
    canonicalise(path, &mut Vec::new())
}

/// Canonicalises a tree, children before their directory (so the directory
/// is made read-only last), and appends the files and directories to flush
/// to `to_sync`, for the caller to flush together with more ([`sync_all`]).
pub(super) fn canonicalise(path: &Path, to_sync: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return set_mtime(path);
    }
    if ft.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
            let entry = entry.map_err(io_err("read directory", path))?;
            canonicalise(&entry.path(), to_sync)?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o555))
            .map_err(io_err("set permissions of", path))?;
        set_mtime(path)?;
        to_sync.push(path.to_owned());
        return Ok(());
    }
    if ft.is_file() {
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o555
        } else {
            0o444
        };
        if meta.permissions().mode() & 0o7777 != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(io_err("set permissions of", path))?;
        }
        set_mtime(path)?;
        to_sync.push(path.to_owned());
        return Ok(());
    }
    Err(Error::BadSource {
        path: path.to_owned(),
        reason: "not a regular file, directory or symlink".into(),
    })
}

/// How many `fsync`s run at once. fsync mostly waits for the disk, and
/// concurrent ones share journal commits, so this is not bound by cores.
const SYNC_THREADS: usize = 16;

/// Flushes files and directories to disk, several at a time: the calls
/// overlap, so they wait for about one journal commit instead of one each
/// (a built file and the store directory it was renamed into, say).
pub(super) fn sync_all(paths: &[PathBuf]) -> Result<(), Error> {
    let sync_one = |p: &PathBuf| -> Result<(), Error> {
        let f = File::open(p).map_err(io_err("open", p))?;
        f.sync_all().map_err(io_err("sync", p))
    };
    if paths.len() <= 1 {
        return paths.iter().try_for_each(sync_one);
    }
    let per_thread = paths.len().div_ceil(SYNC_THREADS);
    let mut chunks = paths.chunks(per_thread);
    // This thread takes the first chunk itself: one thread fewer to start.
    let first = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(sync_one)))
            .collect();
        let mine = first.iter().try_for_each(sync_one);
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::BadSource {
                        path: PathBuf::new(),
                        reason: "fsync thread panicked".into(),
                    })
                })
            })
            .fold(mine, Result::and)
    })
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(path: &Path) -> Result<(), Error> {
    let d = File::open(path).map_err(io_err("open directory", path))?;
    d.sync_all().map_err(io_err("sync directory", path))
}

/// Removes `path` whatever it is, making read-only directories writable
/// first. A missing path is not an error. Returns the bytes freed: the sizes
/// of regular files that had no other hard link (as Nix counts them).
pub fn remove_tree(path: &Path) -> Result<u64, Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err("stat", path)(e)),
    };
    use std::os::unix::fs::MetadataExt;
    if meta.is_dir() {
        if meta.permissions().mode() & 0o700 != 0o700 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                .map_err(io_err("make writable", path))?;
        }
        let mut freed = 0;
        for entry in fs::read_dir(path).map_err(io_err("read directory", path))? {
            let entry = entry.map_err(io_err("read directory", path))?;
            freed += remove_tree(&entry.path())?;
        }
        match fs::remove_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove directory", path)(e)),
        }
        Ok(freed)
    } else {
        let freed = if meta.is_file() && meta.nlink() == 1 {
            meta.size()
        } else {
            0
        };
        match fs::remove_file(path) {
            Ok(()) => Ok(freed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err("remove", path)(e)),
        }
    }
}
