//! Pushing store paths to a binary cache.
//!
//! The order matters for readers of the cache: every NAR is uploaded before
//! any narinfo that points to it, and a narinfo only after the narinfos of
//! its references, so a client never finds a path whose NAR or references
//! are missing. NARs go largest first (the long uploads start early and
//! small ones fill the gaps), several at a time; what the cache already has
//! is found with one batched query and skipped.
//!
//! Each NAR is serialised, hashed, compressed and hashed again in one pass
//! straight into its file. A local cache is flushed to disk twice per push
//! (one `syncfs` after all NARs, one after all narinfos) instead of once per
//! file; a remote cache gets each narinfo as soon as its NAR and its
//! references' narinfos are in, so a b8g server imports paths while the
//! next NARs are still being compressed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Seek, Write};
use std::sync::Mutex;

use thiserror::Error;

use super::compress::{self, Encoder, HashingWriter};
use super::{narinfo_file, BinaryCache, CacheError, CACHE_INFO_FILE};
use crate::format::hash::{Encoding, Hash, HashAlgo, HashSink};
use crate::format::narinfo::{CacheInfo, Compression, NarInfo};
use crate::format::signing::{self, SecretKey};
use crate::format::store_path::StorePath;
use crate::local::{self, LocalStore, PathInfo};
use crate::nar_fs::{self, DumpError};

/// What to push and how.
pub struct PushOptions<'a> {
    /// Push the closure of the given paths (what a client needs), not only them.
    pub closure: bool,
    pub compression: Compression,
    /// zstd level (default [`compress::ZSTD_LEVEL`]; Nix uses 3).
    pub zstd_level: i32,
    /// Signs each narinfo (in addition to the signatures the store already has).
    pub key: Option<&'a SecretKey>,
    /// NAR uploads in flight at once.
    pub jobs: usize,
    /// Called as work proceeds (from several threads).
    pub progress: Option<&'a (dyn Fn(PushEvent<'_>) + Sync)>,
}

impl Default for PushOptions<'_> {
    fn default() -> Self {
        PushOptions {
            closure: true,
            compression: Compression::Zstd,
            zstd_level: compress::ZSTD_LEVEL,
            key: None,
            jobs: 4,
            progress: None,
        }
    }
}

/// Progress of a push.
#[derive(Debug)]
pub enum PushEvent<'a> {
    /// After the existence query: what will be uploaded.
    Planned {
        paths: usize,
        nar_bytes: u64,
        skipped: usize,
    },
    /// One NAR is in the cache.
    Uploaded {
        path: &'a StorePath,
        nar_size: u64,
        file_size: u64,
    },
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    /// Paths newly in the cache, references before referrers.
    pub pushed: Vec<StorePath>,
    /// Paths the cache had already.
    pub skipped: usize,
    pub nar_bytes: u64,
    /// Bytes uploaded (compressed NARs).
    pub file_bytes: u64,
}

#[derive(Debug, Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] local::Error),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{path} is not valid in the store")]
    NotValid { path: String },
    #[error("cannot serialise {path}: {source}")]
    Dump { path: String, source: DumpError },
    #[error("{path} changed on disk: its NAR hash is {actual}, the store recorded {expected} (run `b8g store verify`)")]
    Corrupt {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("cannot use a temporary file for {path}: {source}")]
    Temp { path: String, source: io::Error },
    #[error("cannot sign {path}: {reason}")]
    Sign { path: String, reason: String },
}

/// Orders `infos` so that references come before their referrers.
pub(crate) fn topo_order(infos: &BTreeMap<StorePath, BTreeSet<StorePath>>) -> Vec<StorePath> {
    fn visit(
        p: &StorePath,
        infos: &BTreeMap<StorePath, BTreeSet<StorePath>>,
        done: &mut BTreeSet<StorePath>,
        out: &mut Vec<StorePath>,
    ) {
        // Iterative would avoid deep recursion, but closures are shallow
        // compared to the stack; cycles other than self-references cannot
        // exist in a store.
        if !done.insert(p.clone()) {
            return;
        }
        if let Some(refs) = infos.get(p) {
            for r in refs {
                if r != p && infos.contains_key(r) {
                    visit(r, infos, done, out);
                }
            }
        }
        out.push(p.clone());
    }
    let mut done = BTreeSet::new();
    let mut out = Vec::with_capacity(infos.len());
    for p in infos.keys() {
        visit(p, infos, &mut done, &mut out);
    }
    out
}

/// `graph`'s paths in waves: each path's references (other than itself)
/// are in earlier waves; within a wave, paths are sorted.
pub(crate) fn waves_of(graph: &BTreeMap<StorePath, BTreeSet<StorePath>>) -> Vec<Vec<StorePath>> {
    let mut placed: BTreeSet<&StorePath> = BTreeSet::new();
    let mut left: Vec<&StorePath> = graph.keys().collect();
    let mut waves = Vec::new();
    while !left.is_empty() {
        let (ready, rest): (Vec<&StorePath>, Vec<&StorePath>) = left.into_iter().partition(|p| {
            graph[*p]
                .iter()
                .all(|r| r == *p || !graph.contains_key(r) || placed.contains(r))
        });
        if ready.is_empty() {
            // Only a cycle, which a store cannot hold; keep them together.
            waves.push(rest.into_iter().cloned().collect());
            break;
        }
        placed.extend(ready.iter().copied());
        waves.push(ready.into_iter().cloned().collect());
        left = rest;
    }
    waves
}

/// The narinfo for `info` with its NAR at `url`; signed with `key` if given.
pub(crate) fn make_narinfo(
    store: &LocalStore,
    info: &PathInfo,
    url: String,
    compression: Compression,
    file: Option<(Hash, u64)>,
    key: Option<&SecretKey>,
) -> Result<NarInfo, PushError> {
    let mut narinfo = NarInfo {
        path: info.path.clone(),
        url,
        compression,
        file_hash: file.map(|f| f.0),
        file_size: file.map(|f| f.1),
        nar_hash: info.nar_hash,
        nar_size: info.nar_size,
        references: info.references.clone(),
        deriver: info.deriver.clone(),
        signatures: info.signatures.clone(),
        ca: info.ca.clone(),
    };
    if let Some(key) = key {
        let fp = narinfo
            .fingerprint(store.store_dir())
            .map_err(|e| PushError::Sign {
                path: store.print_path(&info.path),
                reason: e.to_string(),
            })?;
        let sig = key.sign(fp.as_bytes()).to_string();
        let other_sigs_by_key = narinfo.signatures.iter().any(|s| {
            signing::Signature::parse(s)
                .map(|p| p.key_name() == key.name())
                .unwrap_or(false)
        });
        // One signature per key name: an older one by the same name is replaced.
        if other_sigs_by_key {
            narinfo.signatures.retain(|s| {
                signing::Signature::parse(s)
                    .map(|p| p.key_name() != key.name())
                    .unwrap_or(true)
            });
        }
        narinfo.signatures.push(sig);
    }
    Ok(narinfo)
}

/// Dumps, compresses and uploads the NAR of `info`; returns its narinfo.
fn upload_nar(
    store: &LocalStore,
    cache: &dyn BinaryCache,
    info: &PathInfo,
    opts: &PushOptions<'_>,
) -> Result<NarInfo, PushError> {
    let shown = store.print_path(&info.path);
    let temp_err = |source: io::Error| PushError::Temp {
        path: shown.clone(),
        source,
    };
    // A local cache takes the file where it will stay (renamed into place
    // once its hash names it); for a remote one it goes to a temporary file.
    let staged = match cache.staging_dir()? {
        Some(dir) => Some(
            tempfile::Builder::new()
                .prefix(".tmp-")
                .tempfile_in(dir)
                .map_err(temp_err)?,
        ),
        None => None,
    };
    let mut tmp = match &staged {
        Some(s) => s.reopen().map_err(temp_err)?,
        None => tempfile::tempfile().map_err(temp_err)?,
    };
    // NAR → hash → compress → hash → file, in one pass.
    let writer = tmp.try_clone().map_err(temp_err)?;
    let file_side = HashingWriter {
        inner: BufWriter::with_capacity(1 << 16, writer),
        sink: HashSink::new(HashAlgo::Sha256),
    };
    // No pledged size: a path changed on disk must reach the NarHash check
    // below (a clear error), not fail inside zstd.
    let encoder = Encoder::with_options(&opts.compression, file_side, None, opts.zstd_level)
        .map_err(temp_err)?;
    let nar_side = HashingWriter {
        inner: encoder,
        sink: HashSink::new(HashAlgo::Sha256),
    };
    let nar_side = nar_fs::dump_path(&store.real_path(&info.path), nar_side).map_err(|source| {
        PushError::Dump {
            path: shown.clone(),
            source,
        }
    })?;
    let (nar_hash, nar_size) = nar_side.sink.finish();
    let mut file_side = nar_side.inner.finish().map_err(temp_err)?;
    file_side.flush().map_err(temp_err)?;
    let (file_hash, file_size) = file_side.sink.finish();
    if nar_hash != info.nar_hash || nar_size != info.nar_size {
        return Err(PushError::Corrupt {
            path: shown,
            expected: format!(
                "{} ({} bytes)",
                info.nar_hash.to_typed(Encoding::Nix32),
                info.nar_size
            ),
            actual: format!("{} ({nar_size} bytes)", nar_hash.to_typed(Encoding::Nix32)),
        });
    }
    let url = format!(
        "nar/{}.nar{}",
        file_hash.to_nix32(),
        opts.compression.extension()
    );
    let content_type = match opts.compression {
        Compression::None => "application/x-nix-nar",
        _ => "application/octet-stream",
    };
    match staged {
        Some(staged) => {
            drop(tmp);
            cache.put_staged(&url, staged, content_type)?;
        }
        None => {
            tmp.rewind().map_err(temp_err)?;
            cache.put(
                &url,
                &mut io::BufReader::with_capacity(1 << 16, tmp),
                file_size,
                content_type,
            )?;
        }
    }
    if let Some(progress) = opts.progress {
        progress(PushEvent::Uploaded {
            path: &info.path,
            nar_size,
            file_size,
        });
    }
    make_narinfo(
        store,
        info,
        url,
        opts.compression.clone(),
        Some((file_hash, file_size)),
        opts.key,
    )
}

/// narinfos of a push: waiting for their references, or sent.
#[derive(Default)]
struct Narinfos {
    /// NAR uploaded, narinfo not sent yet.
    uploaded: BTreeMap<StorePath, NarInfo>,
    /// Sent, in the order they were (references before referrers).
    sent: Vec<StorePath>,
    sent_set: BTreeSet<StorePath>,
    /// The narinfos sent.
    infos: BTreeMap<StorePath, NarInfo>,
}

/// Sends every narinfo whose NAR is uploaded and whose references (among
/// the paths being pushed) have their narinfos in the cache, until none is
/// left ready.
fn send_ready(
    store: &LocalStore,
    cache: &dyn BinaryCache,
    pushing: &BTreeSet<&StorePath>,
    state: &Mutex<Narinfos>,
) -> Result<(), PushError> {
    loop {
        let ready: Vec<(StorePath, NarInfo)> = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let ready: Vec<StorePath> = st
                .uploaded
                .iter()
                .filter(|(p, ni)| {
                    ni.references
                        .iter()
                        .all(|r| r == *p || !pushing.contains(r) || st.sent_set.contains(r))
                })
                .map(|(p, _)| p.clone())
                .collect();
            ready
                .into_iter()
                .filter_map(|p| st.uploaded.remove(&p).map(|ni| (p, ni)))
                .collect()
        };
        if ready.is_empty() {
            return Ok(());
        }
        for (p, ni) in ready {
            let text = ni.to_text(store.store_dir());
            let sent = cache.put(
                &narinfo_file(&p),
                &mut io::Cursor::new(text.as_bytes()),
                text.len() as u64,
                "text/x-nix-narinfo",
            );
            sent?;
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.sent_set.insert(p.clone());
            st.sent.push(p.clone());
            st.infos.insert(p, ni);
        }
    }
}

/// Pushes `paths` (and, with `opts.closure`, everything they refer to) to `cache`.
pub fn push(
    store: &LocalStore,
    cache: &dyn BinaryCache,
    paths: &[StorePath],
    opts: &PushOptions<'_>,
) -> Result<PushReport, PushError> {
    for p in paths {
        if !store.is_valid(p)? {
            return Err(PushError::NotValid {
                path: store.print_path(p),
            });
        }
    }
    let wanted: BTreeSet<StorePath> = if opts.closure {
        store.closure(paths)?
    } else {
        paths.iter().cloned().collect()
    };

    let mut files: Vec<String> = wanted.iter().map(narinfo_file).collect();
    files.push(CACHE_INFO_FILE.to_owned());
    let present = cache.which_exist(&files)?;
    let existing_info = if present.contains(CACHE_INFO_FILE) {
        cache.get_bytes(CACHE_INFO_FILE)?
    } else {
        None
    };
    if existing_info.is_some() {
        super::check_store_dir(cache, store.store_dir())?;
    }

    let mut todo = Vec::new();
    for p in &wanted {
        if present.contains(&narinfo_file(p)) {
            continue;
        }
        let info = store.path_info(p)?.ok_or_else(|| PushError::NotValid {
            path: store.print_path(p),
        })?;
        todo.push(info);
    }
    let skipped = wanted.len() - todo.len();
    if !todo.is_empty() || existing_info.is_none() {
        // Written (back unchanged, when it exists) before any NAR: a small
        // request that fails fast when the cache refuses writes, instead of
        // a large upload cut off by the server.
        let text = existing_info.unwrap_or_else(|| {
            let info = CacheInfo {
                store_dir: Some(store.store_dir().as_str().to_owned()),
                want_mass_query: true,
                priority: Some(40),
            };
            info.to_text().into_bytes()
        });
        cache.put(
            CACHE_INFO_FILE,
            &mut io::Cursor::new(&text),
            text.len() as u64,
            "text/x-nix-cache-info",
        )?;
    }
    // Largest first: the longest uploads start while the small ones fill in.
    todo.sort_by(|a, b| {
        b.nar_size
            .cmp(&a.nar_size)
            .then_with(|| a.path.cmp(&b.path))
    });
    if let Some(progress) = opts.progress {
        progress(PushEvent::Planned {
            paths: todo.len(),
            nar_bytes: todo.iter().map(|i| i.nar_size).sum(),
            skipped,
        });
    }

    // A local cache takes the narinfos at the end, with one flush for all
    // NARs and one for all narinfos. A remote one (where each request is
    // durable when it succeeds, and a b8g server imports a path when its
    // narinfo arrives) gets each narinfo as soon as its NAR and the
    // narinfos of its references are in, so the server works meanwhile.
    let streaming = cache.staging_dir()?.is_none();
    let pushing: BTreeSet<&StorePath> = todo.iter().map(|i| &i.path).collect();
    let next = Mutex::new(todo.iter());
    let state = Mutex::new(Narinfos::default());
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let fail = |e: PushError| {
        failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(todo.len()) {
            s.spawn(|| loop {
                if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    return;
                }
                let Some(info) = next.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                    return;
                };
                let ni = match upload_nar(store, cache, info, opts) {
                    Ok(ni) => ni,
                    Err(e) => return fail(e),
                };
                state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .uploaded
                    .insert(info.path.clone(), ni);
                if streaming {
                    if let Err(e) = send_ready(store, cache, &pushing, &state) {
                        return fail(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut report = PushReport {
        skipped,
        ..PushReport::default()
    };
    for p in &state.sent {
        let ni = &state.infos[p];
        report.nar_bytes += ni.nar_size;
        report.file_bytes += ni.file_size.unwrap_or(0);
        report.pushed.push(p.clone());
    }

    // Every NAR is durable before any narinfo points to it.
    cache.sync()?;

    // The narinfos not sent yet (all of them for a local cache), references
    // first: wave by wave, each wave's references in earlier waves.
    let graph: BTreeMap<StorePath, BTreeSet<StorePath>> = state
        .uploaded
        .iter()
        .map(|(p, ni)| (p.clone(), ni.references.clone()))
        .collect();
    let mut waves = Vec::new();
    for wave in waves_of(&graph) {
        let mut files = Vec::with_capacity(wave.len());
        for p in wave {
            let ni = &state.uploaded[&p];
            files.push((narinfo_file(&p), ni.to_text(store.store_dir()).into_bytes()));
            report.nar_bytes += ni.nar_size;
            report.file_bytes += ni.file_size.unwrap_or(0);
            report.pushed.push(p);
        }
        waves.push(files);
    }
    cache.put_all(&waves, "text/x-nix-narinfo")?;
    Ok(report)
}
