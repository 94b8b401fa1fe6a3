//! Binary caches in Nix's layout: push store paths to them, substitute
//! paths from them, verify them, and (feature `server`) serve a local store
//! as one.
//!
//! A cache is a tree of files: `nix-cache-info`, `<hash>.narinfo` per path,
//! and compressed NARs under `nar/`. [`BinaryCache`] is the one trait every
//! backend implements over those files ([`file::FileCache`] for `file://`,
//! [`http::HttpCache`] for `http(s)://`); pushing, substitution and
//! verification are written once on top of it, and [`open`] picks the
//! backend from a URL.
//!
//! Trust: nothing from a cache is registered unless its narinfo carries a
//! valid signature by a trusted key and the NAR's hash and size match the
//! signed narinfo (the local store checks the NAR while unpacking, before it
//! registers anything). Every read is bounded: narinfos and `nix-cache-info`
//! by [`METADATA_LIMIT`], a NAR file by its FileSize, the decompressed NAR
//! by the signed NarSize, so a small file that expands without end (a
//! decompression bomb) stops there and leaves nothing behind.

pub mod compress;
pub mod file;
pub mod http;
mod push;
pub mod rate_floor;
pub mod s3;
#[cfg(feature = "server")]
pub mod server;
mod sign;
mod substitute;
mod verify;

use std::collections::BTreeSet;
use std::io::{self, Read, Seek};

use thiserror::Error;

use crate::format::narinfo::{CacheInfo, CacheInfoError, NarInfo, NarInfoError};
use crate::format::store_path::{StoreDir, StorePath};

pub use push::{push, PushError, PushEvent, PushOptions, PushReport};
pub use sign::{sign_paths, SignError};
pub use substitute::{query_substitutable, substitute, SubstituteError, SubstituteReport};
pub use verify::{signature_key_names, verify_cache, CacheProblem, CacheVerifyReport};

/// Errors of the cache backends.
#[derive(Debug, Error)]
pub enum CacheError {
    #[error("unsupported cache URL {0:?} (expected file://…, http(s)://… or s3://…)")]
    BadUrl(String),
    #[error("invalid S3 cache URL {url:?}: {reason}")]
    BadS3Url { url: String, reason: String },
    #[error("cache {cache}: cannot {op} {file}: {source}")]
    Io {
        cache: String,
        op: &'static str,
        file: String,
        source: io::Error,
    },
    #[error("cache {cache}: {op} {file}: HTTP status {status}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    Status {
        cache: String,
        op: &'static str,
        file: String,
        status: u16,
        /// The start of a plain-text answer (why a b8g server refused), else empty.
        reason: String,
    },
    #[error("cache {cache}: {op} {file}: {reason}")]
    Network {
        cache: String,
        op: &'static str,
        file: String,
        reason: String,
    },
    #[error("cache {cache}: {file}: {source}")]
    NarInfo {
        cache: String,
        file: String,
        source: NarInfoError,
    },
    #[error("cache {cache}: nix-cache-info: {source}")]
    CacheInfo {
        cache: String,
        source: CacheInfoError,
    },
    #[error("cache {cache}: {file} is longer than {limit} bytes, refused")]
    TooLarge {
        cache: String,
        file: String,
        limit: u64,
    },
    #[error("cache {cache} cannot list its contents ({reason})")]
    CannotList { cache: String, reason: String },
    #[error("cache {cache} holds paths of store {theirs}, this store is {ours}")]
    WrongStoreDir {
        cache: String,
        theirs: String,
        ours: String,
    },
}

impl CacheError {
    /// Whether trying again may help (a network fault or a server error).
    pub fn is_transient(&self) -> bool {
        match self {
            CacheError::Network { .. } => true,
            CacheError::Status { status, .. } => *status >= 500 || *status == 429,
            CacheError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::Interrupted
            ),
            _ => false,
        }
    }
}

/// A body to upload: readable, and rewindable so a failed upload can be retried.
pub trait Upload: Read + Seek + Send {}
impl<T: Read + Seek + Send> Upload for T {}

/// A readable stream from a cache.
pub type CacheReader = Box<dyn Read + Send>;

/// One binary cache: a flat namespace of files relative to its root
/// (`nix-cache-info`, `<hash>.narinfo`, `nar/<file>`).
pub trait BinaryCache: Send + Sync {
    /// The URL the cache was opened with, for messages.
    fn url(&self) -> &str;

    /// Opens `file` for reading; `Ok(None)` when the cache does not have it.
    fn get(&self, file: &str) -> Result<Option<CacheReader>, CacheError>;

    /// Which of `files` the cache has, found with as few requests as the
    /// backend allows (one directory listing, one batched HTTP query).
    fn which_exist(&self, files: &[String]) -> Result<BTreeSet<String>, CacheError>;

    /// Stores `file` (replacing it) from `data` of `size` bytes. Readers never
    /// see a partial file. `data` is rewound when an upload is retried.
    fn put(
        &self,
        file: &str,
        data: &mut dyn Upload,
        size: u64,
        content_type: &str,
    ) -> Result<(), CacheError>;

    /// For a cache that is a local directory: a directory on the cache's
    /// filesystem where a pusher may write a NAR file and then hand it over
    /// with [`BinaryCache::put_staged`], which renames it into place instead
    /// of copying it. `None` (the default) for remote caches.
    fn staging_dir(&self) -> Result<Option<std::path::PathBuf>, CacheError> {
        Ok(None)
    }

    /// Stores `file` from `staged`, a complete file created in
    /// [`BinaryCache::staging_dir`]. The default uploads it with [`BinaryCache::put`].
    /// A local cache renames it into place without flushing it: the file is
    /// durable only after [`BinaryCache::sync`], which a pusher calls once for
    /// all its NARs before it writes any narinfo that points to them.
    fn put_staged(
        &self,
        file: &str,
        staged: tempfile::NamedTempFile,
        content_type: &str,
    ) -> Result<(), CacheError> {
        let io_err = |source| CacheError::Io {
            cache: self.url().to_owned(),
            op: "read staged",
            file: file.to_owned(),
            source,
        };
        let size = staged.as_file().metadata().map_err(io_err)?.len();
        let mut f = io::BufReader::with_capacity(1 << 16, staged.reopen().map_err(io_err)?);
        self.put(file, &mut f, size, content_type)
    }

    /// Makes everything stored so far durable (a local cache flushes its file
    /// system once; a remote one is durable when a request succeeds).
    fn sync(&self) -> Result<(), CacheError> {
        Ok(())
    }

    /// Stores small files (narinfos) in `waves`: no file of a wave is visible
    /// before every file of the earlier waves is stored, and each file is
    /// complete or absent. When it returns, all are durable. The default
    /// puts them one after another; a local cache writes them all, flushes
    /// once and renames them into place in order; an HTTP cache sends each
    /// wave's files in parallel.
    fn put_all(
        &self,
        waves: &[Vec<(String, Vec<u8>)>],
        content_type: &str,
    ) -> Result<(), CacheError> {
        for (file, data) in waves.iter().flatten() {
            self.put(
                file,
                &mut io::Cursor::new(data),
                data.len() as u64,
                content_type,
            )?;
        }
        Ok(())
    }

    /// The base names of every `.narinfo` in the cache (for verification);
    /// backends that cannot enumerate say so with [`CacheError::CannotList`].
    fn list_narinfos(&self) -> Result<Vec<String>, CacheError>;

    /// Reads a whole small file (narinfo, cache info), refusing one longer
    /// than [`METADATA_LIMIT`] after reading at most one byte more.
    fn get_bytes(&self, file: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(r) = self.get(file)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        r.take(METADATA_LIMIT + 1)
            .read_to_end(&mut buf)
            .map_err(|source| CacheError::Io {
                cache: self.url().to_owned(),
                op: "read",
                file: file.to_owned(),
                source,
            })?;
        if buf.len() as u64 > METADATA_LIMIT {
            return Err(CacheError::TooLarge {
                cache: self.url().to_owned(),
                file: file.to_owned(),
                limit: METADATA_LIMIT,
            });
        }
        Ok(Some(buf))
    }

    /// The cache's `nix-cache-info`, if it has one.
    fn cache_info(&self) -> Result<Option<CacheInfo>, CacheError> {
        match self.get_bytes(CACHE_INFO_FILE)? {
            None => Ok(None),
            Some(b) => CacheInfo::parse(&b)
                .map(Some)
                .map_err(|source| CacheError::CacheInfo {
                    cache: self.url().to_owned(),
                    source,
                }),
        }
    }

    /// The narinfo of `path`, if the cache has it.
    fn narinfo(
        &self,
        store_dir: &StoreDir,
        path: &StorePath,
    ) -> Result<Option<NarInfo>, CacheError> {
        let file = narinfo_file(path);
        match self.get_bytes(&file)? {
            None => Ok(None),
            Some(b) => {
                NarInfo::parse(store_dir, &b)
                    .map(Some)
                    .map_err(|source| CacheError::NarInfo {
                        cache: self.url().to_owned(),
                        file,
                        source,
                    })
            }
        }
    }
}

/// The most a narinfo or `nix-cache-info` may hold. A narinfo is a few
/// hundred bytes plus about 60 per reference; 1 MiB leaves room for paths
/// with thousands of references and keeps a hostile cache from making us
/// read (and hold) an endless response.
pub const METADATA_LIMIT: u64 = 1 << 20;

/// Name of the cache description file at a cache's root.
pub const CACHE_INFO_FILE: &str = "nix-cache-info";

/// `<hash part>.narinfo`.
pub fn narinfo_file(path: &StorePath) -> String {
    format!("{}.narinfo", path.hash_part())
}

/// Checks that `cache` (if it says) holds paths of `store_dir`.
/// Which of `paths` the cache has (their narinfos exist): one batched
/// question for a b8g server, parallel HEAD requests for other HTTP and S3
/// caches. Nothing is fetched or trusted; a narinfo is not checked here.
pub fn cached_paths(
    cache: &dyn BinaryCache,
    paths: &[StorePath],
) -> Result<BTreeSet<StorePath>, CacheError> {
    let files: Vec<String> = paths.iter().map(narinfo_file).collect();
    let present = cache.which_exist(&files)?;
    Ok(paths
        .iter()
        .filter(|p| present.contains(&narinfo_file(p)))
        .cloned()
        .collect())
}

pub fn check_store_dir(cache: &dyn BinaryCache, store_dir: &StoreDir) -> Result<(), CacheError> {
    if let Some(CacheInfo {
        store_dir: Some(theirs),
        ..
    }) = cache.cache_info()?
    {
        if theirs != store_dir.as_str() {
            return Err(CacheError::WrongStoreDir {
                cache: cache.url().to_owned(),
                theirs,
                ours: store_dir.as_str().to_owned(),
            });
        }
    }
    Ok(())
}

/// Opens the cache at `url`: `file:///dir` or `http(s)://host/prefix`.
/// `token` is sent as a bearer token on HTTP uploads.
pub fn open(url: &str, token: Option<String>) -> Result<Box<dyn BinaryCache>, CacheError> {
    if let Some(dir) = url.strip_prefix("file://") {
        // Nix allows query parameters (`?compression=…`); they are options, not part of the path.
        let dir = dir.split('?').next().unwrap_or(dir);
        if dir.is_empty() || !dir.starts_with('/') {
            return Err(CacheError::BadUrl(url.to_owned()));
        }
        return Ok(Box::new(file::FileCache::new(dir)));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Box::new(http::HttpCache::new(url, token)));
    }
    if url.starts_with("s3://") {
        return Ok(Box::new(s3::S3Cache::new(url)?));
    }
    Err(CacheError::BadUrl(url.to_owned()))
}
