//! Whole-system snapshots: a generation's closure as one signed, compressed
//! file, and its import into another store.
//!
//! The file is a zstd-compressed tar of a `file://` binary cache
//! (`nix-cache-info`, one signed narinfo per path, zstd NARs) plus
//! `b8g-snapshot`, a `toplevel=` line. Import unpacks it into a scratch
//! directory, checks *every* narinfo's signature against the trusted keys
//! and every NAR against its narinfo before registering anything, then
//! substitutes the toplevel's closure from it. So a tampered file is refused
//! as a whole and the store is left as it was.

use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use b8g_store::cache::file::FileCache;
use b8g_store::cache::{
    push, substitute, verify_cache, BinaryCache, CacheError, PushError, PushOptions,
    SubstituteError,
};
use b8g_store::format::signing::{PublicKey, SecretKey};
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

/// The file inside a snapshot that names its toplevel.
const MANIFEST: &str = "b8g-snapshot";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Substitute(#[from] SubstituteError),
    #[error(transparent)]
    Store(#[from] b8g_store::local::Error),
    #[error("{file} is not a b8g snapshot: {reason}")]
    NotASnapshot { file: PathBuf, reason: String },
    #[error("snapshot {file} is rejected, nothing was added:\n  {}", problems.join("\n  "))]
    Rejected {
        file: PathBuf,
        problems: Vec<String>,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub paths: usize,
    pub nar_bytes: u64,
    pub file_bytes: u64,
}

/// Writes the closure of `toplevel` to `out`, each path signed with `key`.
pub fn export(
    store: &LocalStore,
    toplevel: &StorePath,
    key: &SecretKey,
    out: &Path,
) -> Result<ExportReport, SnapshotError> {
    let scratch = tempfile::tempdir()
        .map_err(io_err("create scratch directory in", &std::env::temp_dir()))?;
    let cache_dir = scratch.path().join("cache");
    let cache = FileCache::new(&cache_dir);
    let report = push(
        store,
        &cache,
        std::slice::from_ref(toplevel),
        &PushOptions {
            key: Some(key),
            ..Default::default()
        },
    )?;
    let manifest = cache_dir.join(MANIFEST);
    fs::write(
        &manifest,
        format!("toplevel={}\n", store.print_path(toplevel)),
    )
    .map_err(io_err("write", &manifest))?;
    let tmp = out.with_extension("tmp-snapshot");
    let f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
    // The NARs are zstd already; level 3 costs little and shrinks the narinfos and tar headers.
    let mut enc = zstd::Encoder::new(BufWriter::new(f), 3).map_err(io_err("compress", &tmp))?;
    // A checksum over the whole content, so that a change anywhere in the file (also in
    // parts no signature covers, such as tar headers) is refused on import.
    enc.include_checksum(true)
        .map_err(io_err("compress", &tmp))?;
    let mut tar = tar::Builder::new(enc);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.append_dir_all(".", &cache_dir)
        .map_err(io_err("archive", &cache_dir))?;
    let enc = tar.into_inner().map_err(io_err("write", &tmp))?;
    let w = enc.finish().map_err(io_err("write", &tmp))?;
    let f = w.into_inner().map_err(|e| SnapshotError::Io {
        op: "write",
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(io_err("sync", &tmp))?;
    fs::rename(&tmp, out).map_err(io_err("rename into place", out))?;
    let file_bytes = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(ExportReport {
        paths: store.closure([toplevel])?.len(),
        nar_bytes: report.nar_bytes,
        file_bytes,
    })
}

/// Verifies the snapshot `file` as a whole and adds its closure to `store`;
/// returns the toplevel, ready to become a generation.
pub fn import(
    store: &LocalStore,
    file: &Path,
    trusted: &[PublicKey],
) -> Result<StorePath, SnapshotError> {
    let scratch = tempfile::tempdir()
        .map_err(io_err("create scratch directory in", &std::env::temp_dir()))?;
    let dir = scratch.path().join("cache");
    let f = fs::File::open(file).map_err(io_err("open", file))?;
    let not = |reason: String| SnapshotError::NotASnapshot {
        file: file.to_path_buf(),
        reason,
    };
    let dec = zstd::Decoder::new(f).map_err(|e| not(e.to_string()))?;
    // `unpack` refuses entries that would land outside `dir`.
    let mut archive = tar::Archive::new(dec);
    archive
        .unpack(&dir)
        .map_err(|e| not(format!("cannot unpack: {e}")))?;
    // Read to the end of the zstd frame, where its checksum is checked.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| not(format!("damaged: {e}")))?;
    let manifest =
        fs::read_to_string(dir.join(MANIFEST)).map_err(|e| not(format!("no {MANIFEST}: {e}")))?;
    let top = manifest
        .lines()
        .find_map(|l| l.strip_prefix("toplevel="))
        .ok_or_else(|| not(format!("{MANIFEST} names no toplevel")))?;
    let toplevel = store.parse_path(top.trim())?;
    let cache: Arc<dyn BinaryCache> = Arc::new(FileCache::new(&dir));
    let report = verify_cache(cache.as_ref(), store.store_dir(), trusted)?;
    let mut problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    if report.checked == 0 {
        problems.push("it holds no store paths".into());
    }
    if !problems.is_empty() {
        return Err(SnapshotError::Rejected {
            file: file.to_path_buf(),
            problems,
        });
    }
    substitute(std::slice::from_ref(&toplevel), &[cache], trusted, store)?;
    Ok(toplevel)
}
