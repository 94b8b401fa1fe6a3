//! The `.narinfo` and `nix-cache-info` files of a Nix binary cache.
//!
//! A narinfo is `Key: value` lines describing one store path: where its
//! (compressed) NAR lies, the hashes and sizes of the file and the NAR, its
//! references (base names), deriver, signatures and content address. Parsing
//! is strict about what it needs and says which line is wrong; unknown keys
//! are skipped as Nix skips them. Printing uses Nix's field order, so a
//! narinfo we write is the one Nix would write for the same path.
//!
//! Checking signatures and hashes is not done here: see
//! [`super::signing`] and `crate::cache`.

use std::collections::BTreeSet;
use std::fmt;

use thiserror::Error;

use super::hash::{Encoding, Hash, HashAlgo};
use super::signing::{self, FingerprintError, PublicKey};
use super::store_path::{StoreDir, StorePath};

/// How a NAR file in a cache is compressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Bzip2,
    /// A method this crate cannot decompress (kept so the narinfo still parses;
    /// fetching the NAR then fails with its name).
    Other(String),
}

impl Compression {
    /// The name used in narinfo files and `?compression=` (`none`, `xz`, `zstd`, `bzip2`).
    pub fn name(&self) -> &str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Other(s) => s,
        }
    }

    /// The file name extension Nix gives NARs compressed this way (`.nar` + it).
    pub fn extension(&self) -> &str {
        match self {
            Compression::None => "",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
            Compression::Other(_) => "",
        }
    }

    pub fn from_name(name: &str) -> Compression {
        match name {
            "none" | "" => Compression::None,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            "bzip2" => Compression::Bzip2,
            other => Compression::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a narinfo was rejected. `line` counts from 1.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NarInfoError {
    #[error("narinfo line {line}: no ':' in {text:?}")]
    NoColon { line: usize, text: String },
    #[error("narinfo line {line}: {key} appears twice")]
    Duplicate { line: usize, key: &'static str },
    #[error("narinfo line {line}: invalid {key} {value:?}: {reason}")]
    BadValue {
        line: usize,
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("narinfo has no {0} line")]
    Missing(&'static str),
    #[error("narinfo is not UTF-8")]
    NotUtf8,
}

/// One parsed narinfo. Invariant after [`NarInfo::parse`]: `nar_hash` is sha256
/// (Nix signs nothing else) and `url` is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    pub path: StorePath,
    /// Location of the NAR file, relative to the cache root (or absolute URL).
    pub url: String,
    pub compression: Compression,
    /// sha256 of the file at `url`, when known.
    pub file_hash: Option<Hash>,
    pub file_size: Option<u64>,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    /// `keyname:base64` signature texts (kept verbatim: one we cannot parse
    /// must not make the whole narinfo unreadable).
    pub signatures: Vec<String>,
    /// Content address, e.g. `fixed:r:sha256:<nix32>`.
    pub ca: Option<String>,
}

impl NarInfo {
    /// Parses a narinfo whose store paths live in `store_dir`.
    pub fn parse(store_dir: &StoreDir, bytes: &[u8]) -> Result<NarInfo, NarInfoError> {
        let text = std::str::from_utf8(bytes).map_err(|_| NarInfoError::NotUtf8)?;
        let mut path = None;
        let mut url = None;
        let mut compression = None;
        let mut file_hash = None;
        let mut file_size = None;
        let mut nar_hash = None;
        let mut nar_size = None;
        let mut references = None;
        let mut deriver = None;
        let mut signatures = Vec::new();
        let mut ca = None;

        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let (key, value) = raw.split_once(':').ok_or_else(|| NarInfoError::NoColon {
                line,
                text: raw.chars().take(80).collect(),
            })?;
            // Nix writes `Key: value`; tolerate missing or extra blanks.
            let value = value.trim();
            let bad = |key: &'static str, reason: String| NarInfoError::BadValue {
                line,
                key,
                value: value.chars().take(200).collect(),
                reason,
            };
            fn set<T>(
                slot: &mut Option<T>,
                v: T,
                line: usize,
                key: &'static str,
            ) -> Result<(), NarInfoError> {
                if slot.is_some() {
                    return Err(NarInfoError::Duplicate { line, key });
                }
                *slot = Some(v);
                Ok(())
            }
            let sha256 = |key: &'static str| -> Result<Hash, NarInfoError> {
                let h = Hash::parse_prefixed(value).map_err(|e| bad(key, e.to_string()))?;
                if h.algo() != HashAlgo::Sha256 {
                    return Err(bad(key, format!("{} is not sha256", h.algo())));
                }
                Ok(h)
            };
            let number = |key: &'static str| -> Result<u64, NarInfoError> {
                value.parse::<u64>().map_err(|e| bad(key, e.to_string()))
            };
            match key.trim() {
                "StorePath" => {
                    let p = store_dir
                        .parse_path(value)
                        .map_err(|e| bad("StorePath", e.to_string()))?;
                    set(&mut path, p, line, "StorePath")?;
                }
                "URL" => {
                    if value.is_empty() {
                        return Err(bad("URL", "empty".into()));
                    }
                    set(&mut url, value.to_owned(), line, "URL")?;
                }
                "Compression" => set(
                    &mut compression,
                    Compression::from_name(value),
                    line,
                    "Compression",
                )?,
                "FileHash" => set(&mut file_hash, sha256("FileHash")?, line, "FileHash")?,
                "FileSize" => set(&mut file_size, number("FileSize")?, line, "FileSize")?,
                "NarHash" => set(&mut nar_hash, sha256("NarHash")?, line, "NarHash")?,
                "NarSize" => set(&mut nar_size, number("NarSize")?, line, "NarSize")?,
                "References" => {
                    let refs = value
                        .split_ascii_whitespace()
                        .map(StorePath::from_base_name)
                        .collect::<Result<BTreeSet<_>, _>>()
                        .map_err(|e| bad("References", e.to_string()))?;
                    set(&mut references, refs, line, "References")?;
                }
                "Deriver" => {
                    // Nix writes this placeholder when the deriver is unknown.
                    let d = if value == "unknown-deriver" || value.is_empty() {
                        None
                    } else {
                        Some(
                            StorePath::from_base_name(value)
                                .map_err(|e| bad("Deriver", e.to_string()))?,
                        )
                    };
                    set(&mut deriver, d, line, "Deriver")?;
                }
                "Sig" => signatures.push(value.to_owned()),
                "CA" => set(&mut ca, value.to_owned(), line, "CA")?,
                _ => {}
            }
        }

        let nar_size = nar_size.ok_or(NarInfoError::Missing("NarSize"))?;
        if nar_size == 0 {
            // Nix rejects this too: no NAR is empty.
            return Err(NarInfoError::Missing("non-zero NarSize"));
        }
        Ok(NarInfo {
            path: path.ok_or(NarInfoError::Missing("StorePath"))?,
            url: url.ok_or(NarInfoError::Missing("URL"))?,
            // An old cache without the line meant bzip2, as in Nix.
            compression: compression.unwrap_or(Compression::Bzip2),
            file_hash,
            file_size,
            nar_hash: nar_hash.ok_or(NarInfoError::Missing("NarHash"))?,
            nar_size,
            references: references.unwrap_or_default(),
            deriver: deriver.flatten(),
            signatures,
            ca,
        })
    }

    /// Prints the narinfo in Nix's order and spelling.
    pub fn to_text(&self, store_dir: &StoreDir) -> String {
        let mut s = String::with_capacity(512);
        s.push_str(&format!("StorePath: {}\n", store_dir.display(&self.path)));
        s.push_str(&format!("URL: {}\n", self.url));
        s.push_str(&format!("Compression: {}\n", self.compression));
        if let Some(h) = &self.file_hash {
            s.push_str(&format!("FileHash: {}\n", h.to_typed(Encoding::Nix32)));
        }
        if let Some(n) = self.file_size {
            s.push_str(&format!("FileSize: {n}\n"));
        }
        s.push_str(&format!(
            "NarHash: {}\n",
            self.nar_hash.to_typed(Encoding::Nix32)
        ));
        s.push_str(&format!("NarSize: {}\n", self.nar_size));
        let refs: Vec<String> = self.references.iter().map(StorePath::base_name).collect();
        s.push_str(&format!("References: {}\n", refs.join(" ")));
        if let Some(d) = &self.deriver {
            s.push_str(&format!("Deriver: {d}\n"));
        }
        for sig in &self.signatures {
            s.push_str(&format!("Sig: {sig}\n"));
        }
        if let Some(ca) = &self.ca {
            s.push_str(&format!("CA: {ca}\n"));
        }
        s
    }

    /// The text this path's signatures cover (see [`signing::fingerprint`]).
    pub fn fingerprint(&self, store_dir: &StoreDir) -> Result<String, FingerprintError> {
        signing::fingerprint(
            store_dir,
            &self.path,
            &self.nar_hash,
            self.nar_size,
            &self.references,
        )
    }

    /// Whether one of the signatures is valid for one of `keys`.
    pub fn has_valid_signature(&self, store_dir: &StoreDir, keys: &[PublicKey]) -> bool {
        match self.fingerprint(store_dir) {
            Ok(fp) => signing::any_valid(&fp, self.signatures.iter().map(String::as_str), keys),
            Err(_) => false,
        }
    }
}

/// Why a `nix-cache-info` was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CacheInfoError {
    #[error("nix-cache-info line {line}: no ':' in {text:?}")]
    NoColon { line: usize, text: String },
    #[error("nix-cache-info line {line}: invalid {key} {value:?}")]
    BadValue {
        line: usize,
        key: &'static str,
        value: String,
    },
    #[error("nix-cache-info is not UTF-8")]
    NotUtf8,
}

/// The `nix-cache-info` file at a cache's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// The store directory the cached paths belong to (`None`: not stated).
    pub store_dir: Option<String>,
    /// Whether clients may query many paths at once.
    pub want_mass_query: bool,
    /// Lower is preferred; Nix's default is 50.
    pub priority: Option<u32>,
}

impl CacheInfo {
    pub fn parse(bytes: &[u8]) -> Result<CacheInfo, CacheInfoError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CacheInfoError::NotUtf8)?;
        let mut info = CacheInfo {
            store_dir: None,
            want_mass_query: false,
            priority: None,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let (key, value) = raw.split_once(':').ok_or_else(|| CacheInfoError::NoColon {
                line,
                text: raw.chars().take(80).collect(),
            })?;
            let value = value.trim();
            let bad = |key: &'static str| CacheInfoError::BadValue {
                line,
                key,
                value: value.to_owned(),
            };
            match key.trim() {
                "StoreDir" => info.store_dir = Some(value.to_owned()),
                "WantMassQuery" => {
                    info.want_mass_query = match value {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad("WantMassQuery")),
                    }
                }
                "Priority" => info.priority = Some(value.parse().map_err(|_| bad("Priority"))?),
                _ => {}
            }
        }
        Ok(info)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.store_dir {
            s.push_str(&format!("StoreDir: {d}\n"));
        }
        s.push_str(&format!(
            "WantMassQuery: {}\n",
            u8::from(self.want_mass_query)
        ));
        if let Some(p) = self.priority {
            s.push_str(&format!("Priority: {p}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by `nix copy --derivation --to 'file://…?secret-key=…&compression=zstd'` (Nix 2.8).
    const NIX_DRV_ZSTD: &str = "StorePath: /nix/store/gkfly44ag401gdnz7p5jbc0x4vzgpsbi-x.drv
URL: nar/0n8cq0mbbv0wv61fmkgwyviamqypvi897mxcpnm4py7bffqva0h0.nar.zst
Compression: zstd
FileHash: sha256:0n8cq0mbbv0wv61fmkgwyviamqypvi897mxcpnm4py7bffqva0h0
FileSize: 300
NarHash: sha256:1vknl9pxf31zxzqy7rs5jgcqdz3912snywbscl1bsdwh9y4hg5xx
NarSize: 560
References: 5z27gnnd868waxh653ksyix7hy2g7g8k-src l43qfskksv9l99ia2xisvqvn9cpggyd7-dep.txt
Sig: test-key-1:6wX7cE5qUHhyzz7I+W0rTmVD5fW5Zt3QXHYwH+fQuBwTKpv1by6YliLDr89ZHSlkJs286/QYDOrjZllLvo66AA==
CA: text:sha256:06g2wdp4sd7981iqlv1bq5ad07y3bivyc27a6vqgy3blm9gnjicy
";
    // Same tool, compression=xz, a path without references.
    const NIX_SRC_XZ: &str = "StorePath: /nix/store/5z27gnnd868waxh653ksyix7hy2g7g8k-src
URL: nar/0abr8vcmvgixy8l6j1viv3n1n5dvpwrr9p98hfxlv4c5sdg5diwx.nar.xz
Compression: xz
FileHash: sha256:0abr8vcmvgixy8l6j1viv3n1n5dvpwrr9p98hfxlv4c5sdg5diwx
FileSize: 236
NarHash: sha256:1i0gi27ia8bgwpm265dfd04y2ibbizc07asd6mwnkalkbffl7mwc
NarSize: 872
References: 
Sig: test-key-1:UacEdI4LGLOdpeNKjKOFLK8q1Ifn1SGppxWr9/TtZ99BMi3+uyZHFQGxECPNHc6AvhFcQuJhhNPqnAYd1qHAAQ==
CA: fixed:r:sha256:1i0gi27ia8bgwpm265dfd04y2ibbizc07asd6mwnkalkbffl7mwc
";
    const NIX_PUBLIC: &str = "test-key-1:KIzIJZJ6wF4ElbKr/rDcopPvd0lHv5OXzDufVZ0VzwE=";

    fn nix_dir() -> StoreDir {
        StoreDir::new("/nix/store").expect("valid")
    }

    #[test]
    fn nix_narinfos_parse_and_print_identically() {
        for text in [NIX_DRV_ZSTD, NIX_SRC_XZ] {
            let info = NarInfo::parse(&nix_dir(), text.as_bytes()).expect("Nix's narinfo parses");
            assert_eq!(info.to_text(&nix_dir()), text);
        }
        let info = NarInfo::parse(&nix_dir(), NIX_DRV_ZSTD.as_bytes()).expect("parses");
        assert_eq!(info.compression, Compression::Zstd);
        assert_eq!(info.file_size, Some(300));
        assert_eq!(info.nar_size, 560);
        assert_eq!(info.references.len(), 2);
        assert_eq!(info.deriver, None);
        let src = NarInfo::parse(&nix_dir(), NIX_SRC_XZ.as_bytes()).expect("parses");
        assert!(src.references.is_empty());
    }

    #[test]
    fn nix_signatures_verify_through_narinfo() {
        let pk = PublicKey::parse(NIX_PUBLIC).expect("valid");
        for text in [NIX_DRV_ZSTD, NIX_SRC_XZ] {
            let info = NarInfo::parse(&nix_dir(), text.as_bytes()).expect("parses");
            assert!(info.has_valid_signature(&nix_dir(), std::slice::from_ref(&pk)));
        }
        // Dropping a reference or changing the size invalidates the signature.
        let mut info = NarInfo::parse(&nix_dir(), NIX_DRV_ZSTD.as_bytes()).expect("parses");
        let first = info.references.iter().next().cloned().expect("has refs");
        info.references.remove(&first);
        assert!(!info.has_valid_signature(&nix_dir(), std::slice::from_ref(&pk)));
        let mut info = NarInfo::parse(&nix_dir(), NIX_DRV_ZSTD.as_bytes()).expect("parses");
        info.nar_size += 1;
        assert!(!info.has_valid_signature(&nix_dir(), &[pk]));
    }

    #[test]
    fn errors_name_the_line() {
        let bad_hash = NIX_SRC_XZ.replace("NarHash: sha256:1i0g", "NarHash: sha256:!i0g");
        let e = NarInfo::parse(&nix_dir(), bad_hash.as_bytes()).expect_err("bad hash");
        assert!(
            matches!(
                e,
                NarInfoError::BadValue {
                    line: 6,
                    key: "NarHash",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("narinfo line 6: invalid NarHash"),
            "{e}"
        );

        let e = NarInfo::parse(
            &nix_dir(),
            b"StorePath: /nix/store/5z27gnnd868waxh653ksyix7hy2g7g8k-src\nno colon here\n",
        )
        .expect_err("no colon");
        assert_eq!(
            e,
            NarInfoError::NoColon {
                line: 2,
                text: "no colon here".into()
            }
        );

        let other_dir = NIX_SRC_XZ.replace("/nix/store/", "/b8g/store/");
        let e = NarInfo::parse(&nix_dir(), other_dir.as_bytes()).expect_err("wrong store dir");
        assert!(
            matches!(
                e,
                NarInfoError::BadValue {
                    line: 1,
                    key: "StorePath",
                    ..
                }
            ),
            "{e}"
        );

        let no_size: String = NIX_SRC_XZ
            .lines()
            .filter(|l| !l.starts_with("NarSize"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            NarInfo::parse(&nix_dir(), no_size.as_bytes()),
            Err(NarInfoError::Missing("NarSize"))
        );

        let twice = format!("{NIX_SRC_XZ}NarSize: 3\n");
        assert_eq!(
            NarInfo::parse(&nix_dir(), twice.as_bytes()),
            Err(NarInfoError::Duplicate {
                line: 11,
                key: "NarSize"
            })
        );

        let md5 = NIX_SRC_XZ.replace(
            "NarHash: sha256:1i0gi27ia8bgwpm265dfd04y2ibbizc07asd6mwnkalkbffl7mwc",
            "NarHash: md5:d41d8cd98f00b204e9800998ecf8427e",
        );
        let e = NarInfo::parse(&nix_dir(), md5.as_bytes()).expect_err("md5");
        assert!(e.to_string().contains("is not sha256"), "{e}");

        let bad_ref = NIX_SRC_XZ.replace("References: ", "References: not-a-path");
        let e = NarInfo::parse(&nix_dir(), bad_ref.as_bytes()).expect_err("bad ref");
        assert!(
            matches!(
                e,
                NarInfoError::BadValue {
                    line: 8,
                    key: "References",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn defaults_as_nix() {
        // No Compression line means bzip2; unknown keys are skipped; unknown-deriver is none.
        let text = "StorePath: /nix/store/5z27gnnd868waxh653ksyix7hy2g7g8k-src\nURL: nar/x.nar.bz2\nNarHash: sha256:1i0gi27ia8bgwpm265dfd04y2ibbizc07asd6mwnkalkbffl7mwc\nNarSize: 872\nSystem: x86_64-linux\nDeriver: unknown-deriver\n";
        let info = NarInfo::parse(&nix_dir(), text.as_bytes()).expect("parses");
        assert_eq!(info.compression, Compression::Bzip2);
        assert_eq!(info.deriver, None);
        assert!(info.file_hash.is_none());
    }

    #[test]
    fn cache_info_round_trip() {
        let info = CacheInfo::parse(b"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n")
            .expect("parses");
        assert_eq!(
            info,
            CacheInfo {
                store_dir: Some("/nix/store".into()),
                want_mass_query: true,
                priority: Some(30)
            }
        );
        assert_eq!(
            info.to_text(),
            "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n"
        );
        let e = CacheInfo::parse(b"StoreDir: /nix/store\nPriority: high\n").expect_err("bad");
        assert_eq!(
            e.to_string(),
            "nix-cache-info line 2: invalid Priority \"high\""
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn store_path() -> impl Strategy<Value = StorePath> {
            (any::<[u8; 20]>(), "[a-z][a-z0-9.+_-]{0,20}")
                .prop_map(|(h, n)| StorePath::from_parts(h, &n).expect("valid name"))
        }

        proptest! {
            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = NarInfo::parse(&nix_dir(), &bytes);
                let _ = CacheInfo::parse(&bytes);
            }

            #[test]
            fn printed_narinfos_parse_back(
                path in store_path(),
                refs in proptest::collection::btree_set(store_path(), 0..4),
                deriver in proptest::option::of(store_path()),
                nar in any::<[u8; 32]>(),
                file in proptest::option::of((any::<[u8; 32]>(), 1u64..1 << 40)),
                nar_size in 1u64..1 << 40,
                compression in prop_oneof![Just(Compression::None), Just(Compression::Xz), Just(Compression::Zstd)],
                sigs in proptest::collection::vec("[a-z]{1,8}:[A-Za-z0-9+/]{86}==", 0..3),
                ca in proptest::option::of("fixed:r:sha256:[0-9a-df-np-sv-z]{52}"),
            ) {
                let info = NarInfo {
                    url: format!("nar/{}.nar{}", path.hash_part(), compression.extension()),
                    path,
                    compression,
                    file_hash: file.map(|(h, _)| Hash::from_digest(HashAlgo::Sha256, &h).expect("32 bytes")),
                    file_size: file.map(|(_, n)| n),
                    nar_hash: Hash::from_digest(HashAlgo::Sha256, &nar).expect("32 bytes"),
                    nar_size,
                    references: refs,
                    deriver,
                    signatures: sigs,
                    ca,
                };
                let text = info.to_text(&nix_dir());
                prop_assert_eq!(NarInfo::parse(&nix_dir(), text.as_bytes()), Ok(info));
            }
        }
    }
}
