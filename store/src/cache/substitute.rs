//! Substitution: fetching store paths from binary caches instead of
//! building them.
//!
//! For every path missing from the local store (and, transitively, its
//! missing references) all caches are asked concurrently and the first
//! acceptable narinfo wins: it must describe exactly that path and carry a
//! valid signature by a trusted key. NARs are then fetched references
//! first; each streams from the cache through the decompressor into the
//! local store, which hashes and unpacks it in the same pass and registers
//! the path only when hash and size equal the signed narinfo's. Fetches
//! that fail (network, truncated data) are retried from scratch.
//!
//! # For the builder (`b8g-build --substituters … --trusted-public-keys …`)
//!
//! 1. Open each URL once with [`super::open`]`(url, None)` and keep them as
//!    `Vec<Arc<dyn BinaryCache>>` (`Arc::from(box)`); parse each key with
//!    [`PublicKey::parse`] (`name:base64`, as in `nix.conf`).
//! 2. Before building a derivation, call [`substitute`]`(&outputs, &caches,
//!    &keys, &store)` with its output paths. It is all or nothing per call:
//!    - `Ok(report)`: every path and its closure is valid (fetched, or valid
//!      before); `report.substituted` lists what was fetched, references first.
//!    - `Err(SubstituteError::Unavailable { .. })`: some path (or a reference)
//!      has no narinfo signed by a trusted key in any cache; nothing new was
//!      registered for it. Build instead.
//!    - `Err(SubstituteError::Fetch { .. })`: a cache offered the path but its
//!      NAR could not be had or did not match (after retries for network
//!      faults). Paths fetched before the failure stay valid (each is complete
//!      and checked); the failing one is not registered. Build instead, or fail.
//!    - `Err(SubstituteError::Store(..))`: the local store failed; stop.
//! 3. To learn what the caches could provide without fetching (e.g. to plan
//!    a build), use [`query_substitutable`]; it asks the same way (all caches
//!    at once, signature checked) but downloads no NAR.
//!
//! Calls are blocking and may run on several threads at once with the same
//! store (the store locks what it must); each call uses a few threads of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

use super::compress;
use super::push::topo_order;
use super::{check_store_dir, BinaryCache, CacheError, CacheReader};
use crate::bounded::{compressed_limit, BoundedReader};
use crate::format::narinfo::{Compression, NarInfo};
use crate::format::signing::{PublicKey, Signature};
use crate::format::store_path::{StoreDir, StorePath};
use crate::local::{self, ImportBatch, LocalStore, NarExpectation};

/// Attempts per NAR before a failed fetch is reported.
const FETCH_ATTEMPTS: u32 = 3;
/// Paths resolved or fetched at once.
const PARALLEL: usize = 4;

#[derive(Debug, Error)]
pub enum SubstituteError {
    #[error(transparent)]
    Store(#[from] local::Error),
    #[error("no substituter can provide {path}:\n  {}", reasons.join("\n  "))]
    Unavailable { path: String, reasons: Vec<String> },
    #[error("cannot substitute {path} from {cache}: {reason}")]
    Fetch {
        path: String,
        cache: String,
        reason: String,
    },
}

/// What a substitution did.
#[derive(Debug, Default)]
pub struct SubstituteReport {
    /// Newly registered paths with the cache each came from, references first.
    pub substituted: Vec<(StorePath, String)>,
    /// Requested paths (or references) that were valid already.
    pub already_valid: usize,
}

/// The narinfo taken for a path and the index of its cache, or why every cache failed.
type Answer = Result<(NarInfo, usize), Vec<String>>;

/// Why a cache's answer for one path was not taken.
fn judge(
    store_dir: &StoreDir,
    path: &StorePath,
    answer: Result<Option<NarInfo>, CacheError>,
    trusted: &[PublicKey],
) -> Result<NarInfo, String> {
    let info = match answer {
        Ok(Some(info)) => info,
        Ok(None) => return Err("does not have it".into()),
        Err(e) => return Err(e.to_string()),
    };
    if info.path != *path {
        return Err(format!(
            "its narinfo describes {} instead",
            store_dir.display(&info.path)
        ));
    }
    if !info.has_valid_signature(store_dir, trusted) {
        let names: Vec<String> = info
            .signatures
            .iter()
            .map(|s| {
                Signature::parse(s)
                    .map_or_else(|_| "(unparsable)".into(), |s| s.key_name().to_owned())
            })
            .collect();
        return Err(if names.is_empty() {
            "its narinfo is not signed (refusing unsigned paths)".into()
        } else {
            format!(
                "its narinfo has no valid signature by a trusted key (signed by: {}; the narinfo may have been altered)",
                names.join(", ")
            )
        });
    }
    if !compress::supported(&info.compression) {
        return Err(format!(
            "its NAR is compressed with {}, which is not supported",
            info.compression
        ));
    }
    Ok(info)
}

/// Asks every cache for `path` at once; the first acceptable answer wins
/// and the slower caches are not waited for.
fn query(
    store_dir: &StoreDir,
    path: &StorePath,
    caches: &[Arc<dyn BinaryCache>],
    trusted: &Arc<Vec<PublicKey>>,
) -> Answer {
    let (tx, rx) = mpsc::channel();
    for (i, cache) in caches.iter().enumerate() {
        let (tx, cache, dir, path, trusted) = (
            tx.clone(),
            cache.clone(),
            store_dir.clone(),
            path.clone(),
            trusted.clone(),
        );
        std::thread::spawn(move || {
            let verdict = judge(&dir, &path, cache.narinfo(&dir, &path), &trusted);
            // The receiver is gone once another cache answered first.
            let _ = tx.send((i, verdict));
        });
    }
    drop(tx);
    let mut reasons = Vec::new();
    for (i, verdict) in rx {
        match verdict {
            Ok(info) => return Ok((info, i)),
            Err(reason) => reasons.push(format!("{}: {reason}", caches[i].url())),
        }
    }
    Err(reasons)
}

/// Streams the NAR of `info` from `cache` into the store's `batch`.
fn fetch_one(
    batch: &ImportBatch<'_>,
    cache: &dyn BinaryCache,
    info: &NarInfo,
) -> Result<(), (String, bool)> {
    let Some(raw) = cache
        .get(&info.url)
        .map_err(|e| (e.to_string(), e.is_transient()))?
    else {
        return Err((format!("its NAR file {} is missing", info.url), false));
    };
    // FileHash is not checked: the signed NarHash, which the store checks
    // before it registers anything, already pins every byte that matters.
    // The compressed stream is bounded by FileSize (unsigned) and by what the
    // signed NarSize allows; the store bounds the decompressed stream by NarSize.
    let limit = compressed_limit(
        info.compression == Compression::None,
        info.nar_size,
        info.file_size,
    );
    let raw: CacheReader = Box::new(BoundedReader::new(raw, limit, "compressed NAR file"));
    let mut nar = compress::decoder(&info.compression, raw).map_err(|e| (e.to_string(), false))?;
    let expected = NarExpectation {
        path: info.path.clone(),
        nar_hash: info.nar_hash,
        nar_size: info.nar_size,
        references: info.references.clone(),
        deriver: info.deriver.clone(),
        signatures: info.signatures.clone(),
        ca: info.ca.clone(),
    };
    // Decompression, hashing and unpacking run on this thread: several NARs
    // are fetched at once, which keeps the cores busy, and a read-ahead
    // thread would cost one more copy of every byte (measured: 0.3 s of
    // user time per GiB).
    match batch.stage_nar(&mut nar, expected) {
        Ok(_) => Ok(()),
        // The bytes were read in full and are wrong: fetching again cannot help.
        Err(e @ local::Error::Mismatch { .. }) => Err((e.to_string(), false)),
        // A short or broken stream may be the network's fault.
        Err(e) => Err((e.to_string(), true)),
    }
}

/// Which of `paths` some cache in `substituters` offers with a narinfo signed
/// by one of `trusted_keys` (only the narinfos are fetched; their NARs and
/// references are not checked). The value is the URL of the cache whose
/// acceptable answer came first.
pub fn query_substitutable(
    store_dir: &StoreDir,
    paths: &[StorePath],
    substituters: &[Arc<dyn BinaryCache>],
    trusted_keys: &[PublicKey],
) -> BTreeMap<StorePath, String> {
    let trusted = Arc::new(trusted_keys.to_vec());
    let found: Mutex<BTreeMap<StorePath, String>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(paths.iter());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(paths.len()) {
            s.spawn(|| loop {
                let Some(p) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                    return;
                };
                if let Ok((_, i)) = query(store_dir, p, substituters, &trusted) {
                    found
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(p.clone(), substituters[i].url().to_owned());
                }
            });
        }
    });
    found.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Makes `paths` and their closures valid in `store` from `substituters`,
/// accepting only narinfos signed by one of `trusted_keys` and NARs that
/// match them. Paths already valid are left alone. See the module doc for
/// what each outcome means to a caller that can build instead.
pub fn substitute(
    paths: &[StorePath],
    substituters: &[Arc<dyn BinaryCache>],
    trusted_keys: &[PublicKey],
    store: &LocalStore,
) -> Result<SubstituteReport, SubstituteError> {
    let store_dir = store.store_dir().clone();
    let mut report = SubstituteReport::default();

    // Caches of another store directory cannot provide anything; leave them out.
    let mut excluded = Vec::new();
    let mut caches: Vec<Arc<dyn BinaryCache>> = Vec::new();
    for c in substituters {
        match check_store_dir(c.as_ref(), &store_dir) {
            Ok(()) => caches.push(c.clone()),
            Err(e @ CacheError::WrongStoreDir { .. }) => excluded.push(e.to_string()),
            // Unreachable now does not mean useless; the narinfo queries will tell.
            Err(_) => caches.push(c.clone()),
        }
    }
    let trusted = Arc::new(trusted_keys.to_vec());

    // Resolve the missing closure, level by level.
    let mut resolved: BTreeMap<StorePath, (NarInfo, usize)> = BTreeMap::new();
    let mut seen: BTreeSet<StorePath> = BTreeSet::new();
    let mut frontier: Vec<StorePath> = Vec::new();
    for p in paths {
        if seen.insert(p.clone()) {
            if store.is_valid(p)? {
                report.already_valid += 1;
            } else {
                frontier.push(p.clone());
            }
        }
    }
    while !frontier.is_empty() {
        let answers: Mutex<Vec<(StorePath, Answer)>> = Mutex::new(Vec::new());
        let next = Mutex::new(frontier.iter());
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(frontier.len()) {
                s.spawn(|| loop {
                    let Some(p) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        return;
                    };
                    let a = query(&store_dir, p, &caches, &trusted);
                    answers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((p.clone(), a));
                });
            }
        });
        let mut answers = answers.into_inner().unwrap_or_else(|e| e.into_inner());
        answers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut next_frontier = Vec::new();
        for (p, answer) in answers {
            match answer {
                Ok((info, cache)) => {
                    for r in &info.references {
                        if seen.insert(r.clone()) {
                            if store.is_valid(r)? {
                                report.already_valid += 1;
                            } else {
                                next_frontier.push(r.clone());
                            }
                        }
                    }
                    resolved.insert(p, (info, cache));
                }
                Err(mut reasons) => {
                    reasons.extend(excluded.iter().cloned());
                    if reasons.is_empty() {
                        reasons.push("no substituters are configured".into());
                    }
                    return Err(SubstituteError::Unavailable {
                        path: store_dir.display(&p),
                        reasons,
                    });
                }
            }
        }
        frontier = next_frontier;
    }

    // Fetch references first; everything whose references are in can go in parallel.
    let graph: BTreeMap<StorePath, BTreeSet<StorePath>> = resolved
        .iter()
        .map(|(p, (info, _))| (p.clone(), info.references.clone()))
        .collect();
    let order = topo_order(&graph);
    let mut done: BTreeSet<StorePath> = BTreeSet::new();
    let mut remaining: Vec<StorePath> = order;
    while !remaining.is_empty() {
        let (ready, later): (Vec<StorePath>, Vec<StorePath>) =
            remaining.into_iter().partition(|p| {
                graph[p]
                    .iter()
                    .all(|r| r == p || !graph.contains_key(r) || done.contains(r))
            });
        if ready.is_empty() {
            // Only a lying cache can make references form a cycle.
            let p = &later[0];
            return Err(SubstituteError::Fetch {
                path: store_dir.display(p),
                cache: caches[resolved[p].1].url().to_owned(),
                reason: "its references form a cycle".into(),
            });
        }
        // The wave is unpacked and checked path by path, then made durable
        // and registered at once (one flush instead of one per file).
        let batch = store.import_batch()?;
        let failure: Mutex<Option<SubstituteError>> = Mutex::new(None);
        // Largest first: the long fetches start early and small ones fill in.
        let mut by_size: Vec<&StorePath> = ready.iter().collect();
        by_size.sort_by_key(|p| std::cmp::Reverse(resolved[*p].0.nar_size));
        let next = Mutex::new(by_size.into_iter());
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(ready.len()) {
                s.spawn(|| loop {
                    if failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        return;
                    }
                    let Some(p) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                        return;
                    };
                    let (info, ci) = &resolved[p];
                    let cache = &caches[*ci];
                    let mut attempt = 1;
                    loop {
                        match fetch_one(&batch, cache.as_ref(), info) {
                            Ok(()) => break,
                            Err((reason, transient)) if transient && attempt < FETCH_ATTEMPTS => {
                                tracing::warn!(
                                    "fetching {} from {}: {reason}; retrying",
                                    store_dir.display(p),
                                    cache.url()
                                );
                                std::thread::sleep(Duration::from_millis(
                                    200 * u64::from(attempt * attempt),
                                ));
                                attempt += 1;
                            }
                            Err((reason, _)) => {
                                failure
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(SubstituteError::Fetch {
                                        path: store_dir.display(p),
                                        cache: cache.url().to_owned(),
                                        reason,
                                    });
                                return;
                            }
                        }
                    }
                });
            }
        });
        // What was fetched and checked is kept even when another path failed.
        let registered: BTreeSet<StorePath> = batch.commit()?.into_iter().collect();
        if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        for p in ready {
            // Valid already (another process was faster): nothing was copied.
            if !registered.contains(&p) && !store.is_valid(&p)? {
                return Err(SubstituteError::Fetch {
                    path: store_dir.display(&p),
                    cache: caches[resolved[&p].1].url().to_owned(),
                    reason: "it was fetched but is not valid".into(),
                });
            }
            report
                .substituted
                .push((p.clone(), caches[resolved[&p].1].url().to_owned()));
            done.insert(p);
        }
        remaining = later;
    }
    Ok(report)
}
