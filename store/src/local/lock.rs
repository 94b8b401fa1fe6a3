//! File locks of the local store: per-path locks, the GC lock, temporary roots.
//!
//! All locks are `flock(2)` locks on files under the state directory, taken
//! through `fs4`. They are released when the file is closed, so a killed
//! process never leaves a lock behind. Locks belong to an open file, not to a
//! process, so two threads of one process exclude each other too.
//!
//! - A **path lock** (`<state>/locks/<hash part>.lock`) is held while a store
//!   path is written and registered, so two writers never produce the same
//!   path at once.
//! - The **GC lock** (`<state>/gc.lock`) is held shared by anyone who writes
//!   into the store or adds a temporary root, and exclusively by the garbage
//!   collector and by repairs; so GC never sees a half-made path or misses a
//!   root that is being added.
//! - **Temporary roots** (`<state>/temproots/<pid>`) list the paths a live
//!   process uses; the process holds an exclusive lock on its file for as long
//!   as it lives, which is how GC tells a live process from a dead one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use fs4::fs_std::FileExt;

use super::error::{io_err, Error};

/// Opens (creating) a lock file for reading and writing.
fn open_lock_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("open lock file", path))
}

/// An exclusive lock on one store path. Released (and its file removed) on drop.
#[derive(Debug)]
pub struct PathLock {
    file: File,
    path: PathBuf,
}

impl PathLock {
    /// Blocks until the lock for `hash_part` in `lock_dir` is ours.
    pub fn acquire(lock_dir: &Path, hash_part: &str) -> Result<Self, Error> {
        Ok(Self::take(lock_dir, hash_part, true)?.expect("a blocking lock always succeeds"))
    }

    /// Takes the lock only if nobody holds it.
    pub fn try_acquire(lock_dir: &Path, hash_part: &str) -> Result<Option<Self>, Error> {
        Self::take(lock_dir, hash_part, false)
    }

    fn take(lock_dir: &Path, hash_part: &str, wait: bool) -> Result<Option<Self>, Error> {
        use std::os::unix::fs::MetadataExt;
        let path = lock_dir.join(format!("{hash_part}.lock"));
        loop {
            let file = open_lock_file(&path)?;
            if wait {
                FileExt::lock_exclusive(&file).map_err(io_err("lock store path", &path))?;
            } else if !FileExt::try_lock_exclusive(&file)
                .map_err(io_err("lock store path", &path))?
            {
                return Ok(None);
            }
            // The previous holder deletes the file when it is done; if we
            // locked such an unlinked file, nobody else can see our lock.
            let meta = file.metadata().map_err(io_err("stat lock file", &path))?;
            if meta.nlink() > 0 {
                return Ok(Some(PathLock { file, path }));
            }
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        // Remove while still holding the lock (see `take`); failure only leaves a stale file.
        let _ = fs::remove_file(&self.path);
        let _ = FileExt::unlock(&self.file);
    }
}

/// The GC lock, shared or exclusive. Released on drop.
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

impl GcLock {
    /// Shared: we write into the store or add roots; GC must wait.
    pub fn shared(path: &Path) -> Result<Self, Error> {
        let file = open_lock_file(path)?;
        FileExt::lock_shared(&file).map_err(io_err("take shared GC lock", path))?;
        Ok(GcLock { _file: file })
    }

    /// Exclusive: nobody else writes into the store meanwhile.
    pub fn exclusive(path: &Path) -> Result<Self, Error> {
        let file = open_lock_file(path)?;
        FileExt::lock_exclusive(&file).map_err(io_err("take exclusive GC lock", path))?;
        Ok(GcLock { _file: file })
    }
}

/// The temporary-roots file of one store handle, created on first use and
/// removed when the handle is dropped. Each handle has its own file
/// (`<pid>-<n>`), so handles of one process do not clobber each other.
#[derive(Debug)]
pub struct TempRoots {
    file_path: PathBuf,
    file: Mutex<Option<File>>,
}

static HANDLE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempRoots {
    pub fn new(dir: PathBuf) -> Self {
        let n = HANDLE_COUNTER.fetch_add(1, Ordering::Relaxed);
        TempRoots {
            file_path: dir.join(format!("{}-{n}", std::process::id())),
            file: Mutex::new(None),
        }
    }

    /// Appends `path` to our temporary roots. The caller holds the GC lock
    /// (shared), so a running GC either saw the root or has not started reading.
    pub fn add(&self, path: &str) -> Result<(), Error> {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let file_path = &self.file_path;
        if guard.is_none() {
            // A file of that name may be left by a dead process that had our
            // pid; start afresh.
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(file_path)
                .map_err(io_err("create temporary roots file", file_path))?;
            FileExt::lock_exclusive(&file)
                .map_err(io_err("lock temporary roots file", file_path))?;
            *guard = Some(file);
        }
        let file = guard
            .as_mut()
            .expect("temporary roots file was just created");
        // One NUL-terminated record per write, like Nix, so a reader never
        // mistakes a partly written path for a root.
        let mut rec = path.as_bytes().to_vec();
        rec.push(0);
        file.write_all(&rec)
            .map_err(io_err("write temporary root", file_path))?;
        Ok(())
    }
}

impl Drop for TempRoots {
    fn drop(&mut self) {
        let guard = self.file.get_mut().unwrap_or_else(|p| p.into_inner());
        if guard.take().is_some() {
            // Unlink before the descriptor closes; a GC that opened it meanwhile
            // finds it unlocked and removes it anyway.
            let _ = fs::remove_file(&self.file_path);
        }
    }
}

/// Reads the temporary roots of all live processes, our own included (our
/// lock is on another open file, so it reads as held). Files of dead
/// processes, whose lock we can take, are deleted.
pub fn read_temp_roots(dir: &Path) -> Result<Vec<String>, Error> {
    let mut roots = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(roots),
        Err(e) => return Err(io_err("read temporary roots directory", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("read temporary roots directory", dir))?;
        let path = entry.path();
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("open temporary roots file", &path)(e)),
        };
        if FileExt::try_lock_shared(&file).map_err(io_err("test temporary roots lock", &path))? {
            // Nobody holds it: the owner is gone.
            tracing::debug!(file = %path.display(), "removing stale temporary roots");
            fs::remove_file(&path).map_err(io_err("remove stale temporary roots", &path))?;
            continue;
        }
        let data = fs::read(&path).map_err(io_err("read temporary roots file", &path))?;
        // Only NUL-terminated records count; the tail after the last NUL is a
        // write in progress.
        let complete = data
            .iter()
            .rposition(|b| *b == 0)
            .map_or(&data[..0], |end| &data[..end]);
        for rec in complete.split(|b| *b == 0) {
            if rec.is_empty() {
                continue;
            }
            if let Ok(s) = std::str::from_utf8(rec) {
                roots.push(s.to_owned());
            }
        }
    }
    Ok(roots)
}
