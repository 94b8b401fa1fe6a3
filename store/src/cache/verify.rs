//! Verifying a whole cache: every narinfo parses, is signed by a trusted
//! key, and points to a NAR file whose hash and size, and whose decompressed
//! NAR's hash and size, are what the narinfo says; the NAR itself must be
//! canonical.

use std::fmt;
use std::io;

use super::compress::{self, HashingReader};
use super::{BinaryCache, CacheError};
use crate::bounded::{compressed_limit, BoundedReader};
use crate::format::hash::{Encoding, HashAlgo, HashSink};
use crate::format::nar::NarReader;
use crate::format::narinfo::{Compression, NarInfo};
use crate::format::signing::{PublicKey, Signature};
use crate::format::store_path::StoreDir;

/// One thing wrong in a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheProblem {
    BadNarInfo {
        file: String,
        reason: String,
    },
    NoTrustedSignature {
        file: String,
        /// The key names of the signatures it does carry.
        signed_by: Vec<String>,
    },
    MissingNar {
        file: String,
        url: String,
    },
    FileMismatch {
        file: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    NarMismatch {
        file: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    BadNar {
        file: String,
        reason: String,
    },
}

impl fmt::Display for CacheProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheProblem::BadNarInfo { file, reason } => write!(f, "{file}: {reason}"),
            CacheProblem::NoTrustedSignature { file, signed_by } => {
                write!(
                    f,
                    "{file}: no valid signature by a trusted key ({})",
                    signers(signed_by)
                )
            }
            CacheProblem::MissingNar { file, url } => {
                write!(f, "{file}: NAR file {url} is missing")
            }
            CacheProblem::FileMismatch {
                file,
                what,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "{file}: NAR file {what} is {actual}, narinfo says {expected}"
                )
            }
            CacheProblem::NarMismatch {
                file,
                what,
                expected,
                actual,
            } => {
                write!(f, "{file}: NAR {what} is {actual}, narinfo says {expected}")
            }
            CacheProblem::BadNar { file, reason } => write!(f, "{file}: {reason}"),
        }
    }
}

/// `signed by: a, b`, or `unsigned`.
fn signers(names: &[String]) -> String {
    if names.is_empty() {
        "unsigned".to_owned()
    } else {
        format!("signed by: {}", names.join(", "))
    }
}

/// The key names of signatures (`name:base64`), without repeats, sorted.
pub fn signature_key_names<'a>(sigs: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = sigs
        .into_iter()
        .map(|s| {
            Signature::parse(s)
                .map_or_else(|_| "(unparsable)".to_owned(), |s| s.key_name().to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What [`verify_cache`] found.
#[derive(Debug, Default)]
pub struct CacheVerifyReport {
    pub checked: usize,
    pub problems: Vec<CacheProblem>,
}

impl CacheVerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems for a reader: one line each, except that paths lacking a
    /// trusted signature — all of them, when the key given is the wrong one —
    /// are counted in one line naming the keys they are signed by.
    pub fn summary(&self) -> Vec<String> {
        let mut untrusted = 0;
        let mut signed_by: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for p in &self.problems {
            match p {
                CacheProblem::NoTrustedSignature { signed_by: s, .. } => {
                    untrusted += 1;
                    signed_by.extend(s.iter().cloned());
                }
                other => lines.push(other.to_string()),
            }
        }
        signed_by.sort();
        signed_by.dedup();
        match untrusted {
            0 => {}
            1 => lines.insert(
                0,
                self.problems
                    .iter()
                    .find(|p| matches!(p, CacheProblem::NoTrustedSignature { .. }))
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            n => lines.insert(
                0,
                format!(
                    "{n} of {} paths have no valid signature by a trusted key ({}); \
                     are the trusted public keys the right ones?",
                    self.checked,
                    signers(&signed_by)
                ),
            ),
        }
        lines
    }
}

fn check_nar(
    cache: &dyn BinaryCache,
    file: &str,
    info: &NarInfo,
) -> Result<Vec<CacheProblem>, CacheError> {
    let mut problems = Vec::new();
    let Some(raw) = cache.get(&info.url)? else {
        return Ok(vec![CacheProblem::MissingNar {
            file: file.to_owned(),
            url: info.url.clone(),
        }]);
    };
    let bad = |reason: String| CacheProblem::BadNar {
        file: file.to_owned(),
        reason,
    };
    let mut nar_side = HashingReader {
        // Bounded by NarSize: a decompression bomb is reported, not read to its end.
        inner: match compress::decoder(
            &info.compression,
            // Padding that decompresses to nothing must not go on for ever.
            BoundedReader::new(
                raw,
                compressed_limit(
                    info.compression == Compression::None,
                    info.nar_size,
                    info.file_size,
                ),
                "compressed NAR file",
            ),
        ) {
            Ok(d) => BoundedReader::new(d, info.nar_size, "NAR"),
            Err(e) => return Ok(vec![bad(e.to_string())]),
        },
        sink: HashSink::new(HashAlgo::Sha256),
    };
    let too_long = |nar_side: &HashingReader<BoundedReader<_>>| CacheProblem::NarMismatch {
        file: file.to_owned(),
        what: "size",
        expected: info.nar_size.to_string(),
        actual: format!("more than {}", nar_side.inner.limit()),
    };
    let mut reader = NarReader::new(&mut nar_side);
    let valid = reader.validate_all();
    drop(reader);
    if nar_side.inner.exceeded() {
        return Ok(vec![too_long(&nar_side)]);
    }
    if let Err(e) = valid {
        return Ok(vec![bad(format!("invalid NAR: {e}"))]);
    }
    // Trailing bytes after the NAR count too: they are part of what a client hashes.
    if let Err(e) = io::copy(&mut nar_side, &mut io::sink()) {
        if nar_side.inner.exceeded() {
            return Ok(vec![too_long(&nar_side)]);
        }
        return Ok(vec![bad(format!("reading NAR: {e}"))]);
    }
    let (nar_hash, nar_size) = nar_side.sink.finish();
    if nar_size != info.nar_size {
        problems.push(CacheProblem::NarMismatch {
            file: file.to_owned(),
            what: "size",
            expected: info.nar_size.to_string(),
            actual: nar_size.to_string(),
        });
    }
    if nar_hash != info.nar_hash {
        problems.push(CacheProblem::NarMismatch {
            file: file.to_owned(),
            what: "hash",
            expected: info.nar_hash.to_typed(Encoding::Nix32),
            actual: nar_hash.to_typed(Encoding::Nix32),
        });
    }
    // A decoder may stop before the end of its input, so the file's own hash
    // and size are taken on a second, plain read.
    if info.file_hash.is_some() || info.file_size.is_some() {
        if let Some(raw) = cache.get(&info.url)? {
            // One byte past FileSize is enough to report a mismatch.
            let mut raw = BoundedReader::new(
                raw,
                compressed_limit(
                    info.compression == Compression::None,
                    info.nar_size,
                    info.file_size,
                )
                .saturating_add(1),
                "NAR file",
            );
            let mut sink = HashSink::new(HashAlgo::Sha256);
            let mut w = SinkWriter(&mut sink);
            if let Err(e) = io::copy(&mut raw, &mut w) {
                return Ok(vec![bad(format!("reading NAR file: {e}"))]);
            }
            let (file_hash, file_size) = sink.finish();
            if let Some(expected) = info.file_size {
                if expected != file_size {
                    problems.push(CacheProblem::FileMismatch {
                        file: file.to_owned(),
                        what: "size",
                        expected: expected.to_string(),
                        actual: file_size.to_string(),
                    });
                }
            }
            if let Some(expected) = info.file_hash {
                if expected != file_hash {
                    problems.push(CacheProblem::FileMismatch {
                        file: file.to_owned(),
                        what: "hash",
                        expected: expected.to_typed(Encoding::Nix32),
                        actual: file_hash.to_typed(Encoding::Nix32),
                    });
                }
            }
        }
    }
    Ok(problems)
}

struct SinkWriter<'a>(&'a mut HashSink);

impl io::Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks every narinfo of `cache` and the NAR it points to.
pub fn verify_cache(
    cache: &dyn BinaryCache,
    store_dir: &StoreDir,
    trusted: &[PublicKey],
) -> Result<CacheVerifyReport, CacheError> {
    let mut report = CacheVerifyReport::default();
    for file in cache.list_narinfos()? {
        report.checked += 1;
        let Some(bytes) = cache.get_bytes(&file)? else {
            // Removed while we listed: nothing to check.
            continue;
        };
        let info = match NarInfo::parse(store_dir, &bytes) {
            Ok(i) => i,
            Err(e) => {
                report.problems.push(CacheProblem::BadNarInfo {
                    file,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if format!("{}.narinfo", info.path.hash_part()) != file {
            report.problems.push(CacheProblem::BadNarInfo {
                file: file.clone(),
                reason: format!(
                    "describes {}, whose narinfo has another name",
                    store_dir.display(&info.path)
                ),
            });
        }
        if !info.has_valid_signature(store_dir, trusted) {
            report.problems.push(CacheProblem::NoTrustedSignature {
                file: file.clone(),
                signed_by: signature_key_names(&info.signatures),
            });
        }
        report.problems.extend(check_nar(cache, &file, &info)?);
    }
    Ok(report)
}
