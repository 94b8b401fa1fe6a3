//! Store directories, store paths and how Nix computes them.
//!
//! A [`StorePath`] is the base name `<nix32 hash>-<name>` of a store object;
//! the [`StoreDir`] it lives in (`/b8g/store` by default, `/nix/store` for Nix
//! interop) is kept apart, so a path is printed with `store_dir.display(&path)`.
//! The `make_*` helpers on [`StoreDir`] compute paths exactly as Nix does:
//! `sha256("<type>:sha256:<hex>:<storedir>:<name>")` folded to 20 bytes by xor.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::hash::{Hash, HashAlgo};
use super::nix32;

/// Length of the hash part of a store path in bytes, and in nix32 characters.
pub const HASH_BYTES: usize = 20;
pub const HASH_CHARS: usize = 32;
/// Longest name Nix accepts.
pub const MAX_NAME_LEN: usize = 211;
/// The default store directory of b8g.
pub const DEFAULT_STORE_DIR: &str = "/b8g/store";

/// Why a store path, name or store directory is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorePathError {
    #[error("store path name is empty")]
    EmptyName,
    #[error("store path name {name:?} is {len} bytes long, at most {MAX_NAME_LEN} are allowed")]
    NameTooLong { name: String, len: usize },
    #[error("invalid store path name {name:?}: character {ch:?} at position {pos} is not allowed (only a-z A-Z 0-9 + - . _ ? =)")]
    BadNameChar { name: String, ch: char, pos: usize },
    #[error("store path base name {0:?} is too short to hold a hash part and a name")]
    TooShort(String),
    #[error("invalid hash part in store path {path:?}: character {ch:?} at position {pos} is not a nix32 digit")]
    BadHashChar { path: String, ch: char, pos: usize },
    #[error("store path {0:?} has no '-' between hash part and name")]
    MissingDash(String),
    #[error("path {path:?} is not in the store directory {store_dir:?}")]
    NotInStore { path: String, store_dir: String },
    #[error("path {0:?} is a sub-path of a store path, not a store path")]
    SubPath(String),
    #[error("path {0:?} has a '.' or '..' component after the store path: refused, it could name a file outside that store path")]
    DotComponent(String),
    #[error("store directory {0:?} must be an absolute path without a trailing '/', '//', '.' or '..' components")]
    BadStoreDir(String),
    #[error("fixed-output path {name:?} of this kind cannot have references")]
    ReferencesNotAllowed { name: String },
    #[error("text paths need a sha256 hash, got {0}")]
    TextHashNotSha256(HashAlgo),
}

/// A validated store object name: 1–211 bytes of `a-z A-Z 0-9 + - . _ ? =`.
fn check_name(name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    for (pos, ch) in name.char_indices() {
        let ok = ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | '.' | '_' | '?' | '=');
        if !ok {
            return Err(StorePathError::BadNameChar {
                name: name.to_owned(),
                ch,
                pos,
            });
        }
    }
    Ok(())
}

/// Checks a name as Nix would for a new store path.
pub fn validate_name(name: &str) -> Result<(), StorePathError> {
    check_name(name)
}

/// A store path's base name: a 20-byte hash part and a valid name.
///
/// Invariant: the name passes [`validate_name`]. A `StorePath` never includes
/// the store directory nor a sub-path inside the object. Ordering is that of
/// the printed base name, which is how Nix sorts references.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StorePath {
    hash: [u8; HASH_BYTES],
    name: String,
    // Cached nix32 of `hash`, so ordering and printing need no encoding.
    hash_str: String,
}

impl StorePath {
    /// Builds a path from its parts, validating the name.
    pub fn from_parts(hash: [u8; HASH_BYTES], name: &str) -> Result<StorePath, StorePathError> {
        check_name(name)?;
        Ok(StorePath {
            hash,
            name: name.to_owned(),
            hash_str: nix32::encode(&hash),
        })
    }

    /// Parses a base name `<hash>-<name>` (no directory).
    pub fn from_base_name(s: &str) -> Result<StorePath, StorePathError> {
        if s.len() < HASH_CHARS + 2 {
            return Err(StorePathError::TooShort(s.to_owned()));
        }
        let (hash_str, rest) = s.split_at(HASH_CHARS);
        if let Some((pos, ch)) = hash_str
            .char_indices()
            .find(|&(_, c)| !c.is_ascii() || !nix32::is_valid(c.encode_utf8(&mut [0; 4])))
        {
            return Err(StorePathError::BadHashChar {
                path: s.to_owned(),
                ch,
                pos,
            });
        }
        let name = rest
            .strip_prefix('-')
            .ok_or_else(|| StorePathError::MissingDash(s.to_owned()))?;
        check_name(name)?;
        let hash = nix32::decode_exact::<HASH_BYTES>(hash_str)
            .expect("32 valid nix32 digits always decode to 20 bytes");
        Ok(StorePath {
            hash,
            name: name.to_owned(),
            hash_str: hash_str.to_owned(),
        })
    }

    /// The 20-byte hash part.
    pub fn hash(&self) -> &[u8; HASH_BYTES] {
        &self.hash
    }

    /// The hash part as nix32 (32 characters), as it appears in the path.
    pub fn hash_part(&self) -> &str {
        &self.hash_str
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> String {
        format!("{}-{}", self.hash_str, self.name)
    }
}

/// Prints the base name `<hash>-<name>`.
impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.hash_str, self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({}-{})", self.hash_str, self.name)
    }
}

impl FromStr for StorePath {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, StorePathError> {
        StorePath::from_base_name(s)
    }
}

impl PartialOrd for StorePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StorePath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Same order as comparing the base names: equal-length hash parts first.
        (self.hash_str.as_str(), self.name.as_str())
            .cmp(&(other.hash_str.as_str(), other.name.as_str()))
    }
}

/// How the contents of a fixed-output path were hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileIngestionMethod {
    /// The hash is of the file's bytes (a single regular file).
    Flat,
    /// The hash is of the NAR serialisation of the tree.
    Recursive,
}

/// An absolute store directory such as `/b8g/store` or `/nix/store`.
///
/// Invariant: starts with `/`, has no trailing `/` (unless it is `/` itself,
/// which is rejected), no empty, `.` or `..` components.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir(DEFAULT_STORE_DIR.to_owned())
    }
}

impl fmt::Display for StoreDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StoreDir {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, StorePathError> {
        StoreDir::new(s)
    }
}

impl StoreDir {
    pub fn new(dir: &str) -> Result<StoreDir, StorePathError> {
        let bad = || StorePathError::BadStoreDir(dir.to_owned());
        let rest = dir.strip_prefix('/').ok_or_else(bad)?;
        if rest.is_empty()
            || rest
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(bad());
        }
        Ok(StoreDir(dir.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full path `<storedir>/<hash>-<name>`.
    pub fn display(&self, path: &StorePath) -> String {
        format!("{}/{}", self.0, path)
    }

    /// Parses a full store path `<storedir>/<hash>-<name>`; a sub-path is an error.
    pub fn parse_path(&self, full: &str) -> Result<StorePath, StorePathError> {
        let (path, rest) = self.parse_path_prefix(full)?;
        if !rest.is_empty() {
            return Err(StorePathError::SubPath(full.to_owned()));
        }
        Ok(path)
    }

    /// Parses a path inside the store: the store path and the rest after it
    /// (empty, or starting with `/`). A trailing `/` is treated as no sub-path.
    /// A `.` or `..` component in the rest is an error: the rest must name
    /// something inside the store path, and `..` would climb out of it.
    pub fn parse_path_prefix<'a>(
        &self,
        full: &'a str,
    ) -> Result<(StorePath, &'a str), StorePathError> {
        let not_in_store = || StorePathError::NotInStore {
            path: full.to_owned(),
            store_dir: self.0.clone(),
        };
        let base = full
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(not_in_store)?;
        let (base, rest) = match base.find('/') {
            Some(i) => (&base[..i], &base[i..]),
            None => (base, ""),
        };
        let rest = if rest == "/" { "" } else { rest };
        if rest.split('/').any(|c| c == "." || c == "..") {
            return Err(StorePathError::DotComponent(full.to_owned()));
        }
        Ok((StorePath::from_base_name(base)?, rest))
    }

    /// Nix's `makeStorePath`: the path for `type`, an inner hash and a name.
    pub fn make_store_path(
        &self,
        ty: &str,
        hash: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        check_name(name)?;
        let fingerprint = format!(
            "{ty}:{}:{}:{name}",
            hash.to_typed(super::hash::Encoding::Base16),
            self.0
        );
        let full = HashAlgo::Sha256.digest(fingerprint.as_bytes());
        StorePath::from_parts(compress_hash(full.digest()), name)
    }

    /// `type` followed by `:<full path>` for each reference (sorted) and `:self`.
    fn make_type(&self, ty: &str, references: &[StorePath], self_reference: bool) -> String {
        let mut refs: Vec<&StorePath> = references.iter().collect();
        refs.sort();
        refs.dedup();
        let mut s = ty.to_owned();
        for r in refs {
            s.push(':');
            s.push_str(&self.display(r));
        }
        if self_reference {
            s.push_str(":self");
        }
        s
    }

    /// The path of a text object (`builtins.toFile`, `.drv` files): `hash` is
    /// the sha256 of the contents.
    pub fn make_text_path(
        &self,
        name: &str,
        hash: &Hash,
        references: &[StorePath],
    ) -> Result<StorePath, StorePathError> {
        if hash.algo() != HashAlgo::Sha256 {
            return Err(StorePathError::TextHashNotSha256(hash.algo()));
        }
        self.make_store_path(&self.make_type("text", references, false), hash, name)
    }

    /// The path of a content-addressed ("fixed-output") object. Recursive
    /// sha256 uses the `source` type (and may have references); every other
    /// combination goes through the `fixed:out:` indirection and may not.
    pub fn make_fixed_output_path(
        &self,
        name: &str,
        method: FileIngestionMethod,
        hash: &Hash,
        references: &[StorePath],
    ) -> Result<StorePath, StorePathError> {
        if method == FileIngestionMethod::Recursive && hash.algo() == HashAlgo::Sha256 {
            return self.make_store_path(&self.make_type("source", references, false), hash, name);
        }
        if !references.is_empty() {
            return Err(StorePathError::ReferencesNotAllowed {
                name: name.to_owned(),
            });
        }
        let r = if method == FileIngestionMethod::Recursive {
            "r:"
        } else {
            ""
        };
        let inner = format!(
            "fixed:out:{r}{}:",
            hash.to_typed(super::hash::Encoding::Base16)
        );
        self.make_store_path(
            "output:out",
            &HashAlgo::Sha256.digest(inner.as_bytes()),
            name,
        )
    }

    /// The path of output `output` of a derivation called `name` whose
    /// hash-modulo is `drv_hash`. The path name is `name` for `out`, else `name-output`.
    pub fn make_output_path(
        &self,
        drv_hash: &Hash,
        output: &str,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        let path_name = if output == "out" {
            name.to_owned()
        } else {
            format!("{name}-{output}")
        };
        self.make_store_path(&format!("output:{output}"), drv_hash, &path_name)
    }
}

/// Xor-folds a digest into 20 bytes, as Nix's `compressHash`.
pub fn compress_hash(digest: &[u8]) -> [u8; HASH_BYTES] {
    let mut out = [0u8; HASH_BYTES];
    for (i, b) in digest.iter().enumerate() {
        out[i % HASH_BYTES] ^= b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nix() -> StoreDir {
        StoreDir::new("/nix/store").unwrap()
    }

    #[test]
    fn parses_and_prints() {
        let s = "/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole-18.12.3";
        let p = nix().parse_path(s).unwrap();
        assert_eq!(p.name(), "konsole-18.12.3");
        assert_eq!(p.hash_part(), "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz");
        assert_eq!(nix().display(&p), s);
        assert_eq!(StorePath::from_parts(*p.hash(), p.name()).unwrap(), p);
        let sub = format!("{s}/bin/konsole");
        let (p2, rest) = nix().parse_path_prefix(&sub).unwrap();
        assert_eq!((p2, rest), (p, "/bin/konsole"));
    }

    #[test]
    fn sub_paths_with_dot_components_are_refused() {
        let s = "/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole-18.12.3";
        for rest in [
            "/..",
            "/../../etc/shadow",
            "/bin/../..",
            "/.",
            "/./bin",
            "/bin/.",
        ] {
            let full = format!("{s}{rest}");
            assert!(
                matches!(
                    nix().parse_path_prefix(&full),
                    Err(StorePathError::DotComponent(_))
                ),
                "{full} was accepted"
            );
        }
        // Names that merely start with dots are fine.
        assert!(nix().parse_path_prefix(&format!("{s}/..a/.b")).is_ok());
    }

    proptest::proptest! {
        /// What parse_path_prefix accepts as a sub-path never has a `.` or
        /// `..` component, so it cannot name anything outside its store path.
        #[test]
        fn accepted_sub_paths_have_no_dot_components(
            parts in proptest::collection::vec("(\\.|\\.\\.|a|\\.a|)", 0..6),
        ) {
            let full = format!(
                "/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole/{}",
                parts.join("/")
            );
            if let Ok((_, rest)) = nix().parse_path_prefix(&full) {
                proptest::prop_assert!(rest.split('/').all(|c| c != "." && c != ".."), "{}", full);
            } else {
                proptest::prop_assert!(parts.iter().any(|c| c == "." || c == ".."), "{}", full);
            }
        }
    }

    #[test]
    fn rejects_bad_paths() {
        let d = nix();
        assert!(matches!(
            d.parse_path("/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-kon sole"),
            Err(StorePathError::BadNameChar {
                ch: ' ',
                pos: 3,
                ..
            })
        ));
        assert!(matches!(
            d.parse_path("/nix/store/eh7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole"),
            Err(StorePathError::BadHashChar {
                ch: 'e',
                pos: 0,
                ..
            })
        ));
        assert!(matches!(
            d.parse_path("/b8g/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole"),
            Err(StorePathError::NotInStore { .. })
        ));
        assert!(matches!(
            d.parse_path("/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-"),
            Err(StorePathError::TooShort(_))
        ));
        assert!(matches!(
            d.parse_path("/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz_konsole"),
            Err(StorePathError::MissingDash(_))
        ));
        assert!(matches!(
            d.parse_path("/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-k/x"),
            Err(StorePathError::SubPath(_))
        ));
        let long = "a".repeat(212);
        assert!(matches!(
            validate_name(&long),
            Err(StorePathError::NameTooLong { len: 212, .. })
        ));
        assert!(validate_name(&long[..211]).is_ok());
        for bad in [
            "",
            "nix/store",
            "/",
            "/nix//store",
            "/nix/store/",
            "/nix/../store",
        ] {
            assert!(StoreDir::new(bad).is_err(), "{bad}");
        }
        assert_eq!(StoreDir::default().as_str(), "/b8g/store");
    }

    // Expected values from Nix 2.8 with store dir /nix/store: `nix-store --add`,
    // `nix-store --add-fixed [--recursive] ALGO`, `builtins.toFile`.
    // formats-hello holds "hello"; formats-tree is a directory with sub/f = "x".
    const HELLO_NAR_SHA256: &str = "sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa";

    #[test]
    fn text_paths_match_nix() {
        let d = nix();
        let world = HashAlgo::Sha256.digest(b"world");
        assert_eq!(
            d.display(&d.make_text_path("hello", &world, &[]).unwrap()),
            "/nix/store/a8pm5wln4zaphc7x9iaqrgm9fravifib-hello"
        );
        // let a = builtins.toFile "a" "x"; in builtins.toFile "b" "ref ${a}"
        let a = d
            .make_text_path("a", &HashAlgo::Sha256.digest(b"x"), &[])
            .unwrap();
        let contents = format!("ref {}", d.display(&a));
        let b = d
            .make_text_path("b", &HashAlgo::Sha256.digest(contents.as_bytes()), &[a])
            .unwrap();
        assert_eq!(
            d.display(&b),
            "/nix/store/kbnsdqvza4r1hzcr5vs2bhx8kv150g37-b"
        );
        assert!(matches!(
            d.make_text_path("x", &HashAlgo::Sha1.digest(b""), &[]),
            Err(StorePathError::TextHashNotSha256(HashAlgo::Sha1))
        ));
    }

    #[test]
    fn fixed_output_paths_match_nix() {
        let d = nix();
        let nar_sha256: Hash = HELLO_NAR_SHA256.parse().unwrap();
        let recursive = FileIngestionMethod::Recursive;
        let flat = FileIngestionMethod::Flat;
        assert_eq!(
            d.make_fixed_output_path("formats-hello", recursive, &nar_sha256, &[])
                .unwrap()
                .to_string(),
            "dbrphs6xpnv0xciqp9h1jwzgh50d52xx-formats-hello"
        );
        let flat_sha256 = HashAlgo::Sha256.digest(b"hello");
        assert_eq!(
            d.make_fixed_output_path("formats-hello", flat, &flat_sha256, &[])
                .unwrap()
                .to_string(),
            "q8c5s2s8df5mnh391kdracw6ak351nx2-formats-hello"
        );
        let flat_sha1 = HashAlgo::Sha1.digest(b"hello");
        assert_eq!(
            d.make_fixed_output_path("formats-hello", flat, &flat_sha1, &[])
                .unwrap()
                .to_string(),
            "4g5kz6h3810i6fhf6r44c14dpzsj003i-formats-hello"
        );
        let tree_sha256: Hash =
            "sha256:c734a10fcb21c0530d7386abad0ec38c2fd3a03fb0821fd269fff8582cc40a0f"
                .parse()
                .unwrap();
        assert_eq!(
            d.make_fixed_output_path("formats-tree", recursive, &tree_sha256, &[])
                .unwrap()
                .to_string(),
            "ivlqlvqr9pbyr0yn9wgi11ymwn44pqxj-formats-tree"
        );
        let tree_sha1: Hash = "sha1:5xkz5lgnkxcwwjnkb45czqa53isyggnc".parse().unwrap();
        assert_eq!(
            d.make_fixed_output_path("formats-tree", recursive, &tree_sha1, &[])
                .unwrap()
                .to_string(),
            "xi8jifdfxdxmq4chsg0vz8z8s0qsrw3f-formats-tree"
        );
        let r = d
            .parse_path("/nix/store/7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-konsole-18.12.3")
            .unwrap();
        assert!(matches!(
            d.make_fixed_output_path("x", flat, &flat_sha256, &[r]),
            Err(StorePathError::ReferencesNotAllowed { .. })
        ));
    }

    #[test]
    fn output_path_names() {
        let d = nix();
        let h = HashAlgo::Sha256.digest(b"drv");
        let dev = d.make_output_path(&h, "dev", "foo").unwrap();
        assert_eq!(dev.name(), "foo-dev");
        assert_eq!(dev, d.make_store_path("output:dev", &h, "foo-dev").unwrap());
        assert_eq!(d.make_output_path(&h, "out", "foo").unwrap().name(), "foo");
        // The store directory is part of the fingerprint.
        let b8g = StoreDir::default()
            .make_output_path(&h, "out", "foo")
            .unwrap();
        assert_ne!(
            b8g.hash(),
            d.make_output_path(&h, "out", "foo").unwrap().hash()
        );
    }

    #[test]
    fn compress_hash_folds_by_xor() {
        let mut d = [0u8; 32];
        d[0] = 1;
        d[20] = 3;
        d[31] = 0xff;
        let c = compress_hash(&d);
        assert_eq!(c[0], 2);
        assert_eq!(c[11], 0xff);
    }
}
