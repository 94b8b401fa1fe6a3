//! Whole-system snapshots: a generation's closure as one signed, compressed
//! file, and its import into another store.
//!
//! The file is a zstd-compressed tar. Its first member is the signed
//! manifest ([`b8g_store::format::snapshot_manifest`]): the toplevel it
//! installs and the size and sha256 of every other member. The others make
//! a `file://` binary cache
//! (`nix-cache-info`, one signed narinfo per path, zstd NARs).
//!
//! Import reads the archive as a stream: the manifest first (bounded, its
//! signature checked against the trusted keys before anything else is
//! read), then each member, refused unless the manifest names it, and
//! written to a scratch directory no further than its stated size while it
//! is hashed; a member that does not match is refused before the next is
//! read. Only when every member is there and matches are the narinfos and
//! NARs checked again ([`verify_cache`]) and the toplevel's closure
//! substituted from them, each NAR bounded by its signed NarSize. So a
//! tampered or repacked file is refused as a whole and the store is left as
//! it was; the toplevel it installs is the one the signer named.
//!
//! Not covered: a complete, validly signed older snapshot still imports
//! (signatures say who made it, not that it is the newest).

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use b8g_store::bounded::BoundedReader;
use b8g_store::cache::file::FileCache;
use b8g_store::cache::{
    push, signature_key_names, substitute, verify_cache, BinaryCache, CacheError, PushError,
    PushOptions, SubstituteError,
};
use b8g_store::format::hash::{Encoding, HashAlgo, HashSink};
use b8g_store::format::signing::{PublicKey, SecretKey};
use b8g_store::format::snapshot_manifest::{
    valid_member_name, Manifest, ManifestError, Member, MANIFEST_LIMIT, MANIFEST_MEMBER,
};
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

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
    // `reason`, not `source`: the message holds it already, and a chain
    // printer would say it twice.
    #[error("snapshot {file} cannot be imported: {reason}")]
    Manifest {
        file: PathBuf,
        reason: ManifestError,
    },
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
    let mut manifest = Manifest {
        toplevel: store.print_path(toplevel),
        members: Default::default(),
        signatures: Vec::new(),
    };
    for name in list_members(&cache_dir)? {
        let path = cache_dir.join(&name);
        let mut f = fs::File::open(&path).map_err(io_err("open", &path))?;
        let mut sink = HashSink::new(HashAlgo::Sha256);
        io::copy(&mut f, &mut SinkWriter(&mut sink)).map_err(io_err("read", &path))?;
        let (sha256, size) = sink.finish();
        manifest.members.insert(name, Member { size, sha256 });
    }
    manifest.sign(key);
    let tmp = out.with_extension("tmp-snapshot");
    let f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
    // The NARs are zstd already; level 3 costs little and shrinks the narinfos and tar headers.
    let mut enc = zstd::Encoder::new(BufWriter::new(f), 3).map_err(io_err("compress", &tmp))?;
    // A checksum catches accidental damage to the file. It is no defence: a file
    // recompressed without it, or with other tar headers, still imports when every
    // member matches the signed manifest, which is what is trusted.
    enc.include_checksum(true)
        .map_err(io_err("compress", &tmp))?;
    let mut tar = tar::Builder::new(enc);
    // The manifest first: import checks every later member against it as it streams by.
    let text = manifest.render();
    append_member(
        &mut tar,
        MANIFEST_MEMBER,
        text.len() as u64,
        text.as_bytes(),
    )
    .map_err(io_err("archive", &tmp))?;
    for (name, m) in &manifest.members {
        let path = cache_dir.join(name);
        let f = fs::File::open(&path).map_err(io_err("open", &path))?;
        append_member(&mut tar, name, m.size, f).map_err(io_err("archive", &path))?;
    }
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
/// returns the toplevel its signed manifest names, ready to become a generation.
pub fn import(
    store: &LocalStore,
    file: &Path,
    trusted: &[PublicKey],
) -> Result<StorePath, SnapshotError> {
    let scratch = tempfile::tempdir()
        .map_err(io_err("create scratch directory in", &std::env::temp_dir()))?;
    let dir = scratch.path().join("cache");
    fs::create_dir(&dir).map_err(io_err("create", &dir))?;
    let f = fs::File::open(file).map_err(io_err("open", file))?;
    let not = |reason: String| SnapshotError::NotASnapshot {
        file: file.to_path_buf(),
        reason,
    };
    let rejected = |problem: String| SnapshotError::Rejected {
        file: file.to_path_buf(),
        problems: vec![problem],
    };
    let dec = zstd::Decoder::new(f).map_err(|e| not(e.to_string()))?;
    // Until the manifest is verified nothing but it may be read (the tar
    // reader buffers long-name and PAX records whole, before b8g sees a
    // member); then only what the signed sizes account for.
    let budget = Rc::new(Cell::new(MANIFEST_LIMIT + UNSIGNED_SLACK));
    let mut archive = tar::Archive::new(Budgeted {
        inner: dec,
        left: budget.clone(),
    });
    let mut manifest: Option<Manifest> = None;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let entries = archive
        .entries()
        .map_err(|e| not(format!("cannot read: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not(format!("cannot read: {e}")))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw_name.trim_start_matches("./").trim_end_matches('/');
        let kind = entry.header().entry_type();
        // Older exports wrote directory entries; they create nothing here.
        if kind.is_dir() && (name.is_empty() || name == "." || valid_member_name(name)) {
            continue;
        }
        if !kind.is_file() {
            return Err(rejected(format!(
                "member {raw_name:?} is not a regular file"
            )));
        }
        let declared = entry
            .header()
            .size()
            .map_err(|e| not(format!("member {raw_name:?}: {e}")))?;
        let Some(m) = &manifest else {
            if name != MANIFEST_MEMBER {
                return Err(not(format!(
                    "its first member is {raw_name:?}, not the signed manifest \
                     {MANIFEST_MEMBER} (a snapshot made by an older b8g must be exported again)"
                )));
            }
            let m = read_manifest(&mut entry, declared).map_err(|e| match e {
                Ok(reason) => SnapshotError::Manifest {
                    file: file.to_path_buf(),
                    reason,
                },
                Err(reason) => not(reason),
            })?;
            if !m.has_valid_signature(trusted) {
                // One line for the whole snapshot, naming who did sign it.
                let names = signature_key_names(&m.signatures);
                let trusted: Vec<&str> = trusted.iter().map(|k| k.name()).collect();
                return Err(rejected(format!(
                    "its manifest has no valid signature by a trusted key (signed by: {}; \
                     trusted: {})",
                    if names.is_empty() {
                        "nobody".to_owned()
                    } else {
                        names.join(", ")
                    },
                    trusted.join(", ")
                )));
            }
            let signed: u64 = m
                .members
                .values()
                .map(|v| v.size.saturating_add(MEMBER_OVERHEAD))
                .fold(0, u64::saturating_add);
            budget.set(budget.get().saturating_add(signed));
            manifest = Some(m);
            continue;
        };
        let Some(want) = m.members.get(name) else {
            return Err(rejected(format!(
                "member {raw_name:?} is not in the signed manifest"
            )));
        };
        if !seen.insert(name.to_owned()) {
            return Err(rejected(format!("member {name} appears twice")));
        }
        if declared != want.size {
            return Err(rejected(format!(
                "member {name} has {declared} bytes, the signed manifest says {}",
                want.size
            )));
        }
        let target = dir.join(name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        let out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io_err("create", &target))?;
        let mut out = BufWriter::new(out);
        let mut sink = HashSink::new(HashAlgo::Sha256);
        let mut bounded = BoundedReader::new(&mut entry, want.size, "snapshot member");
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match bounded.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(not(format!("member {name}: {e}"))),
            };
            sink.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err("write", &target))?;
        }
        out.flush().map_err(io_err("write", &target))?;
        let (sha256, size) = sink.finish();
        if size != want.size || sha256 != want.sha256 {
            // The scratch directory goes with the error; nothing reached the store.
            return Err(rejected(format!(
                "member {name} ({size} bytes, {}) does not match the signed manifest \
                 ({} bytes, {})",
                sha256.to_typed(Encoding::Nix32),
                want.size,
                want.sha256.to_typed(Encoding::Nix32)
            )));
        }
    }
    // Read to the end of the zstd frame, where its checksum is checked.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| not(format!("damaged: {e}")))?;
    let Some(manifest) = manifest else {
        return Err(not(format!("it has no {MANIFEST_MEMBER} manifest")));
    };
    let missing: Vec<String> = manifest
        .members
        .keys()
        .filter(|n| !seen.contains(*n))
        .map(|n| format!("member {n} of the signed manifest is missing"))
        .collect();
    if !missing.is_empty() {
        return Err(SnapshotError::Rejected {
            file: file.to_path_buf(),
            problems: missing,
        });
    }
    let toplevel = store.parse_path(&manifest.toplevel)?;
    let cache: Arc<dyn BinaryCache> = Arc::new(FileCache::new(&dir));
    let report = verify_cache(cache.as_ref(), store.store_dir(), trusted)?;
    let mut problems = report.summary();
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

/// Bytes of the decompressed stream allowed beyond the manifest and the
/// signed members: tar headers, end blocks and record padding.
const UNSIGNED_SLACK: u64 = 1 << 20;
/// Per member: its header, a long-name record and padding.
const MEMBER_OVERHEAD: u64 = 4096;

/// A reader that fails once its shared budget is spent.
struct Budgeted<R> {
    inner: R,
    left: Rc<Cell<u64>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left.get();
        if left == 0 {
            return Err(io::Error::other(
                "more data than the signed manifest accounts for",
            ));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left.set(left - n as u64);
        Ok(n)
    }
}

/// Reads the manifest member (at most [`MANIFEST_LIMIT`] bytes). `Err(Ok)`
/// for a manifest that is refused, `Err(Err)` for one that cannot be read.
fn read_manifest(
    entry: &mut dyn Read,
    declared: u64,
) -> Result<Manifest, Result<ManifestError, String>> {
    if declared > MANIFEST_LIMIT {
        return Err(Err(format!(
            "its manifest is {declared} bytes, more than {MANIFEST_LIMIT}"
        )));
    }
    let mut bytes = Vec::new();
    entry
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|e| Err(format!("cannot read its manifest: {e}")))?;
    Manifest::parse(&bytes).map_err(Ok)
}

/// The files under `dir` as member names (`file` or `dir/file`), sorted.
fn list_members(dir: &Path) -> Result<Vec<String>, SnapshotError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for e in fs::read_dir(&d).map_err(io_err("list", &d))? {
            let e = e.map_err(io_err("list", &d))?;
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            let ty = e.file_type().map_err(io_err("stat", &e.path()))?;
            if ty.is_dir() {
                stack.push((e.path(), format!("{name}/")));
            } else {
                out.push(name);
            }
        }
    }
    out.sort();
    for name in &out {
        if !valid_member_name(name) {
            return Err(SnapshotError::NotASnapshot {
                file: dir.join(name),
                reason: "a cache file name a snapshot cannot carry".into(),
            });
        }
    }
    Ok(out)
}

/// Appends a regular file with a fixed header (mode 0644, time 0), so
/// exports of the same closure are byte for byte the same.
fn append_member<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    tar.append_data(&mut h, name, data)
}

struct SinkWriter<'a>(&'a mut HashSink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_store::format::store_path::StoreDir;
    use b8g_store::local::StoreConfig;

    /// The second attack pass's finding: a 28 KB snapshot whose first tar
    /// record is a GNU long name (or a PAX header) of 800 MiB made import
    /// buffer it all before any signature was checked. Now reading stops at
    /// the manifest's budget. (64 MiB here keeps the test quick; the old code
    /// read all of it.)
    #[test]
    fn huge_long_name_record_before_the_manifest_is_refused_at_the_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let claimed: u64 = 64 << 20;
        for kind in [b'L', b'x'] {
            let mut header = [0u8; 512];
            header[..13].copy_from_slice(b"././@LongLink");
            header[100..108].copy_from_slice(b"0000644\0");
            header[124..136].copy_from_slice(format!("{claimed:011o}\0").as_bytes());
            header[156] = kind;
            header[257..263].copy_from_slice(b"ustar ");
            header[263..265].copy_from_slice(b" \0");
            header[148..156].copy_from_slice(b"        ");
            let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            let file = dir.path().join(format!("bomb-{}.snap", kind as char));
            let out = fs::File::create(&file).expect("create");
            let mut enc = zstd::Encoder::new(out, 1).expect("zstd");
            enc.write_all(&header).expect("write");
            let zeros = vec![b'a'; 1 << 20];
            for _ in 0..(claimed >> 20) {
                enc.write_all(&zeros).expect("write");
            }
            enc.finish().expect("finish");
            let store = LocalStore::open(&StoreConfig {
                store_dir: StoreDir::new("/b8g/store").expect("dir"),
                state_dir: "/b8g/var/b8g".into(),
                root: Some(dir.path().join(format!("root-{}", kind as char))),
            })
            .expect("store");
            let err = import(&store, &file, &[]).expect_err("refused").to_string();
            assert!(
                err.contains("more data than the signed manifest accounts for"),
                "{}: {err}",
                kind as char
            );
            assert!(store.valid_paths().expect("query").is_empty());
        }
    }
}
