//! Checks of what an importer declares about a path before it becomes
//! valid: its content address (`CA`) must match its content and name its
//! store path, and its signatures must be well-formed `name:base64` words.
//! A remote builder, a serve client or a cache could otherwise register
//! bytes at a content-addressed path that they do not hash to, or smuggle
//! whitespace (a new narinfo line) into what `cache push` later signs.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use crate::format::hash::{Encoding, Hash, HashAlgo, HashSink};
use crate::format::store_path::{FileIngestionMethod, StoreDir, StorePath};
use crate::nar_fs;

use super::Error;

/// A parsed content address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentAddress {
    /// `text:sha256:…`: the file's bytes, references allowed.
    Text(Hash),
    /// `fixed:[r:]algo:…`.
    Fixed(FileIngestionMethod, Hash),
}

impl ContentAddress {
    /// Parses Nix's rendering (`text:sha256:<nix32>`, `fixed:r:sha256:<nix32>`,
    /// `fixed:sha1:<base16>`, …).
    pub fn parse(s: &str) -> Result<ContentAddress, String> {
        let bad = || format!("{s:?} is not a content address");
        if let Some(rest) = s.strip_prefix("text:") {
            let h = Hash::parse_prefixed(rest).map_err(|_| bad())?;
            if h.algo() != HashAlgo::Sha256 {
                return Err(format!("{s:?}: a text content address must be sha256"));
            }
            return Ok(ContentAddress::Text(h));
        }
        let rest = s.strip_prefix("fixed:").ok_or_else(bad)?;
        let (method, rest) = match rest.strip_prefix("r:") {
            Some(r) => (FileIngestionMethod::Recursive, r),
            None => (FileIngestionMethod::Flat, rest),
        };
        let h = Hash::parse_prefixed(rest).map_err(|_| bad())?;
        Ok(ContentAddress::Fixed(method, h))
    }

    /// Nix's rendering, as narinfos and the database carry it.
    pub fn render(&self) -> String {
        match self {
            ContentAddress::Text(h) => format!("text:{}", h.to_typed(Encoding::Nix32)),
            ContentAddress::Fixed(FileIngestionMethod::Recursive, h) => {
                format!("fixed:r:{}", h.to_typed(Encoding::Nix32))
            }
            ContentAddress::Fixed(FileIngestionMethod::Flat, h) => {
                format!("fixed:{}", h.to_typed(Encoding::Nix32))
            }
        }
    }
}

/// A signature must be one `name:base64` word.
pub(super) fn check_signature(path: &str, sig: &str) -> Result<(), Error> {
    let ok = sig.split_once(':').is_some_and(|(name, b64)| {
        !name.is_empty()
            && !b64.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Refused {
            path: path.to_owned(),
            reason: format!("malformed signature {:?}", truncate(sig)),
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Checks that `tree` (unpacked, its NAR hashing to `nar_hash`) has content
/// address `ca` and that the address names `path` with `references`.
pub(super) fn check_content_address(
    store_dir: &StoreDir,
    path: &StorePath,
    ca: &str,
    tree: &Path,
    nar_hash: &Hash,
    references: &BTreeSet<StorePath>,
) -> Result<(), Error> {
    let shown = store_dir.display(path);
    let bad = |reason: String| Error::Refused {
        path: shown.clone(),
        reason,
    };
    let parsed = ContentAddress::parse(ca).map_err(|e| bad(truncate(&e)))?;
    if references.contains(path) {
        return Err(bad("a content-addressed path cannot refer to itself".into()));
    }
    let refs: Vec<StorePath> = references.iter().cloned().collect();
    let (want, actual, expected_path) = match &parsed {
        ContentAddress::Text(h) => (
            h,
            flat_hash(tree, HashAlgo::Sha256).map_err(&bad)?,
            store_dir.make_text_path(path.name(), h, &refs),
        ),
        ContentAddress::Fixed(method, h) => {
            let actual = match method {
                FileIngestionMethod::Flat => flat_hash(tree, h.algo()).map_err(&bad)?,
                FileIngestionMethod::Recursive if h.algo() == HashAlgo::Sha256 => *nar_hash,
                FileIngestionMethod::Recursive => {
                    nar_fs::hash_path(tree, h.algo())
                        .map_err(|e| bad(e.to_string()))?
                        .0
                }
            };
            (
                h,
                actual,
                store_dir.make_fixed_output_path(path.name(), *method, h, &refs),
            )
        }
    };
    if *want != actual {
        return Err(Error::Mismatch {
            path: shown,
            what: "content address",
            expected: want.to_sri(),
            actual: actual.to_sri(),
        });
    }
    let expected_path = expected_path.map_err(|e| bad(e.to_string()))?;
    if expected_path != *path {
        return Err(bad(format!(
            "content address {ca} gives {}, not this path",
            store_dir.display(&expected_path)
        )));
    }
    Ok(())
}

/// The hash of a single regular file's bytes.
fn flat_hash(tree: &Path, algo: HashAlgo) -> Result<Hash, String> {
    let meta = fs::symlink_metadata(tree).map_err(|e| e.to_string())?;
    // The executable bit is not in a flat hash: it must be off (as Nix
    // demands), or one content address would name two different NARs.
    if !meta.is_file() || std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
    {
        return Err(
            "a flat or text content address needs a single non-executable regular file".into(),
        );
    }
    let mut f = fs::File::open(tree).map_err(|e| e.to_string())?;
    let mut sink = HashSink::new(algo);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        sink.update(&buf[..n]);
    }
    Ok(sink.finish().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addresses_parse_and_render_as_nix_does() {
        for s in [
            "text:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
            "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
            "fixed:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
        ] {
            assert_eq!(ContentAddress::parse(s).unwrap().render(), s);
        }
        for s in [
            "text:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\nURL: x",
            "text:sha1:0000000000000000000000000000000000000000",
            "fixed:",
            "source:sha256:abc",
        ] {
            assert!(ContentAddress::parse(s).is_err(), "{s:?}");
        }
    }

    /// A remote builder's output that names an input it does not declare
    /// is refused: GC would not keep that input alive for it.
    #[test]
    fn an_undeclared_reference_found_by_scanning_is_refused() {
        use crate::local::{LocalStore, NarExpectation, StoreConfig};
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let open = |d: &Path| {
            LocalStore::open(&StoreConfig {
                root: Some(d.to_owned()),
                ..Default::default()
            })
            .unwrap()
        };
        let (src, dst) = (open(a.path()), open(b.path()));
        let dep = src.add_text("dep", b"x", &[]).unwrap();
        dst.add_text("dep", b"x", &[]).unwrap();
        let text = format!("uses {}", src.print_path(&dep));
        let user = src
            .add_text("user", text.as_bytes(), std::slice::from_ref(&dep))
            .unwrap();
        let info = src.path_info(&user).unwrap().unwrap();
        let nar = nar_fs::dump_path(&src.real_path(&user), Vec::new()).unwrap();
        let expect = |references: BTreeSet<StorePath>| NarExpectation {
            path: user.clone(),
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references,
            deriver: None,
            signatures: Vec::new(),
            ca: None,
        };
        let candidates: BTreeSet<StorePath> = [dep.clone(), user.clone()].into();
        let err = dst
            .import_nar_locked(&mut &nar[..], expect(BTreeSet::new()), &candidates)
            .unwrap_err();
        assert!(err.to_string().contains("without declaring it"), "{err}");
        assert!(!dst.is_valid(&user).unwrap());
        dst.import_nar_locked(&mut &nar[..], expect([dep].into()), &candidates)
            .unwrap();
        assert!(dst.is_valid(&user).unwrap());
    }

    /// The executable bit is not in a flat hash: an executable file has no
    /// flat or text address (one address would name two NARs).
    #[test]
    fn flat_addresses_need_a_non_executable_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "hello\n").unwrap();
        assert!(flat_hash(&f, HashAlgo::Sha256).is_ok());
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(flat_hash(&f, HashAlgo::Sha256).is_err());
        assert!(flat_hash(d.path(), HashAlgo::Sha256).is_err());
    }

    #[test]
    fn signatures_are_one_name_base64_word() {
        assert!(check_signature("p", "cache.example-1:AAAA+/==").is_ok());
        for s in ["nocolon", "a:b c", "a:b\nURL: x", ":AAAA", "a:", "a b:AAAA"] {
            assert!(check_signature("p", s).is_err(), "{s:?}");
        }
    }
}
