//! The `file://` backend: a cache that is a directory.
//!
//! Files are written under a temporary name in the same directory and renamed
//! into place, so a reader never sees half a NAR or half a narinfo.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::{BinaryCache, CacheError, CacheReader, Upload};

/// A cache in a local directory.
pub struct FileCache {
    root: PathBuf,
    url: String,
}

impl FileCache {
    pub fn new(root: impl AsRef<Path>) -> FileCache {
        let root = root.as_ref().to_owned();
        FileCache {
            url: format!("file://{}", root.display()),
            root,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, op: &'static str, file: &str) -> impl FnOnce(io::Error) -> CacheError + '_ {
        let file = file.to_owned();
        move |source| CacheError::Io {
            cache: self.url.clone(),
            op,
            file,
            source,
        }
    }

    /// Cache file names are relative and may not climb out of the root.
    fn resolve(&self, file: &str) -> Result<PathBuf, CacheError> {
        let ok = !file.is_empty()
            && !file.starts_with('/')
            && file
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !ok {
            return Err(CacheError::Io {
                cache: self.url.clone(),
                op: "resolve",
                file: file.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a relative path inside the cache",
                ),
            });
        }
        Ok(self.root.join(file))
    }

    fn names_in(
        &self,
        dir: &Path,
        prefix: &str,
        into: &mut BTreeSet<String>,
    ) -> Result<(), CacheError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io("list", prefix)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(self.io("list", prefix))?;
            if let Some(name) = entry.file_name().to_str() {
                into.insert(format!("{prefix}{name}"));
            }
        }
        Ok(())
    }
}

impl BinaryCache for FileCache {
    fn url(&self) -> &str {
        &self.url
    }

    fn get(&self, file: &str) -> Result<Option<CacheReader>, CacheError> {
        self.resolve(file)?;
        // A cache directory is not ours: a FIFO must not block the open, only
        // a regular file is read (not a device or a directory), and no
        // symlink is followed, so its owner cannot point us at a file only
        // we may read (its first line would come back in the parse error).
        let opened = fs::File::open(&self.root).and_then(|root| {
            use rustix::fs::{Mode, OFlags, ResolveFlags};
            crate::openat::openat2_retrying(
                &root,
                file,
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            )
            .map(fs::File::from)
            .map_err(|e| {
                if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::XDEV {
                    io::Error::new(io::ErrorKind::InvalidData, "a symlink (not followed)")
                } else {
                    io::Error::from(e)
                }
            })
        });
        match opened {
            Ok(f) => {
                let meta = f.metadata().map_err(self.io("stat", file))?;
                if !meta.is_file() {
                    return Err(self.io("open", file)(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not a regular file",
                    )));
                }
                Ok(Some(Box::new(io::BufReader::with_capacity(1 << 16, f))))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("open", file)(e)),
        }
    }

    fn which_exist(&self, files: &[String]) -> Result<BTreeSet<String>, CacheError> {
        // One listing of each directory involved instead of a stat per file.
        let mut present = BTreeSet::new();
        let dirs: BTreeSet<&str> = files
            .iter()
            .map(|f| f.rsplit_once('/').map_or("", |(d, _)| d))
            .collect();
        for dir in dirs {
            let path = if dir.is_empty() {
                self.root.clone()
            } else {
                self.resolve(dir)?
            };
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            self.names_in(&path, &prefix, &mut present)?;
        }
        Ok(files
            .iter()
            .filter(|f| present.contains(*f))
            .cloned()
            .collect())
    }

    fn put(
        &self,
        file: &str,
        data: &mut dyn Upload,
        _size: u64,
        _content_type: &str,
    ) -> Result<(), CacheError> {
        let path = self.resolve(file)?;
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        fs::create_dir_all(&dir).map_err(self.io("create directory for", file))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(self.io("create", file))?;
        io::copy(data, tmp.as_file_mut()).map_err(self.io("write", file))?;
        tmp.as_file_mut().flush().map_err(self.io("write", file))?;
        tmp.as_file().sync_all().map_err(self.io("sync", file))?;
        // Caches are shared read-only by others (Nix writes them 0644 too).
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .map_err(self.io("chmod", file))?;
        tmp.persist(&path)
            .map_err(|e| self.io("rename", file)(e.error))?;
        Ok(())
    }

    fn staging_dir(&self) -> Result<Option<PathBuf>, CacheError> {
        let dir = self.root.join("nar");
        fs::create_dir_all(&dir).map_err(self.io("create directory", "nar"))?;
        Ok(Some(dir))
    }

    fn put_staged(
        &self,
        file: &str,
        staged: tempfile::NamedTempFile,
        _content_type: &str,
    ) -> Result<(), CacheError> {
        let path = self.resolve(file)?;
        // NAR names are content hashes: a file already there has these bytes,
        // and it may be durable already; keep it rather than replace it by a
        // copy that is not flushed yet.
        if path.exists() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(self.io("create directory for", file))?;
        }
        fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o644))
            .map_err(self.io("chmod", file))?;
        // A rename within one filesystem: readers see the whole file or none.
        // Not flushed here: see `BinaryCache::sync`.
        staged
            .persist(&path)
            .map_err(|e| self.io("rename", file)(e.error))?;
        Ok(())
    }

    fn sync(&self) -> Result<(), CacheError> {
        // One flush of the cache's file system instead of one per file.
        let dir = File::open(&self.root).map_err(self.io("open", ""))?;
        rustix::fs::syncfs(&dir).map_err(|e| self.io("flush", "")(e.into()))
    }

    fn put_all(
        &self,
        waves: &[Vec<(String, Vec<u8>)>],
        _content_type: &str,
    ) -> Result<(), CacheError> {
        // Write every file under a temporary name, flush once, then rename
        // them in order (earlier waves first) and flush the renames.
        let mut temps = Vec::new();
        for (file, data) in waves.iter().flatten() {
            let path = self.resolve(file)?;
            let dir = path.parent().unwrap_or(&self.root).to_owned();
            fs::create_dir_all(&dir).map_err(self.io("create directory for", file))?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .permissions(fs::Permissions::from_mode(0o644))
                .tempfile_in(&dir)
                .map_err(self.io("create", file))?;
            tmp.as_file_mut()
                .write_all(data)
                .map_err(self.io("write", file))?;
            temps.push((file, path, tmp));
        }
        if temps.is_empty() {
            return Ok(());
        }
        self.sync()?;
        for (file, path, tmp) in temps {
            tmp.persist(&path)
                .map_err(|e| self.io("rename", file)(e.error))?;
        }
        self.sync()
    }

    fn list_narinfos(&self) -> Result<Vec<String>, CacheError> {
        let mut names = BTreeSet::new();
        self.names_in(&self.root, "", &mut names)?;
        Ok(names
            .into_iter()
            .filter(|n| n.ends_with(".narinfo"))
            .collect())
    }
}
