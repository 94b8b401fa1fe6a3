//! Derivations in Nix's ATerm form (`.drv` files), byte for byte.
//!
//! A [`Derivation`] is the build recipe Nix and b8g store as `<hash>-<name>.drv`:
//! outputs, input derivations and sources, system, builder, arguments and
//! environment. This module serialises ([`Derivation::to_aterm`]), parses
//! ([`Derivation::parse`]) and hashes them the way Nix does
//! ([`Derivation::hash_modulo`], the "hashDerivationModulo" that output paths
//! are computed from). It does no I/O: input derivations needed for hashing
//! are asked for through a closure.

mod parse;
mod write;

pub use parse::ParseError;

use super::hash::{Hash, HashAlgo, HashError};
use super::store_path::{FileIngestionMethod, StoreDir, StorePath, StorePathError};
use std::collections::{BTreeMap, BTreeSet};

/// One output of a derivation.
///
/// For input-addressed outputs `hash_algo` and `hash` are empty; for a
/// fixed-output derivation `hash_algo` is `sha256` (flat) or `r:sha256`
/// (recursive), and `hash` is the expected hash in base16.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Full store path of the output, or empty while output paths are being computed.
    pub path: String,
    /// `""`, or `[r:]<algo>` for fixed outputs (`r:` means recursive/NAR hashing).
    pub hash_algo: String,
    /// Base16 expected hash for fixed outputs, else empty.
    pub hash: String,
}

impl Output {
    /// True when this output is content-addressed by a declared hash.
    pub fn is_fixed(&self) -> bool {
        !self.hash.is_empty()
    }
}

/// A derivation. All maps and sets are ordered, which is the order Nix writes them in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    /// Output name (`out`, `dev`, …) to output.
    pub outputs: BTreeMap<String, Output>,
    /// Full path of each input `.drv` to the names of its outputs that are used.
    pub input_drvs: BTreeMap<String, BTreeSet<String>>,
    /// Full paths of input sources (plain store paths, not derivations).
    pub input_srcs: BTreeSet<String>,
    /// Platform, e.g. `x86_64-linux`, or `builtin` for builtin builders.
    pub system: String,
    /// Builder program (a store path, or `builtin:<name>`).
    pub builder: String,
    /// Arguments passed to the builder.
    pub args: Vec<String>,
    /// Environment of the build.
    pub env: BTreeMap<String, String>,
}

impl Derivation {
    /// True when the derivation has exactly one output, `out`, with a declared hash.
    pub fn is_fixed_output(&self) -> bool {
        self.outputs.len() == 1 && self.outputs.get("out").is_some_and(Output::is_fixed)
    }

    /// The derivation's name, from its `name` environment variable.
    pub fn name(&self) -> Option<&str> {
        self.env.get("name").map(String::as_str)
    }

    /// Nix's `hashDerivationModulo`: the SHA-256 that output paths are derived from.
    ///
    /// Fixed-output derivations hash only what they promise (`fixed:out:<algo>:<hash>:<path>`),
    /// so changing how they are fetched does not change anything that depends on them.
    /// Otherwise each input derivation path is replaced by the base16 of its own
    /// modulo hash (obtained through `input_hash`, which callers usually memoise),
    /// and the resulting ATerm is hashed. With `mask_outputs`, output paths and the
    /// output environment variables are blanked, as when the paths are first computed.
    pub fn hash_modulo<E>(
        &self,
        mask_outputs: bool,
        input_hash: &mut dyn FnMut(&str) -> Result<[u8; 32], E>,
    ) -> Result<[u8; 32], E> {
        use sha2::{Digest, Sha256};
        if self.is_fixed_output() {
            let out = &self.outputs["out"];
            let s = format!("fixed:out:{}:{}:{}", out.hash_algo, out.hash, out.path);
            return Ok(Sha256::digest(s.as_bytes()).into());
        }
        let mut inputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (drv_path, outs) in &self.input_drvs {
            let h = input_hash(drv_path)?;
            inputs
                .entry(data_encoding::HEXLOWER.encode(&h))
                .or_default()
                .extend(outs.iter().cloned());
        }
        let mut text = Vec::new();
        write::write_aterm(&mut text, self, Some(&inputs), mask_outputs);
        Ok(Sha256::digest(&text).into())
    }
}

/// Why output or derivation paths could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("derivation has no `name` in its environment")]
    NoName,
    #[error("output {output:?} has unsupported hash algorithm {algo:?}")]
    BadHashAlgo { output: String, algo: String },
    #[error("output {output:?}: {source}")]
    Hash { output: String, source: HashError },
    #[error(transparent)]
    StorePath(#[from] StorePathError),
}

impl Derivation {
    /// For a fixed output: its ingestion method and declared hash.
    pub fn fixed_hash(
        &self,
        output: &str,
    ) -> Result<Option<(FileIngestionMethod, Hash)>, PathError> {
        let Some(o) = self.outputs.get(output).filter(|o| o.is_fixed()) else {
            return Ok(None);
        };
        let (method, algo) = match o.hash_algo.strip_prefix("r:") {
            Some(a) => (FileIngestionMethod::Recursive, a),
            None => (FileIngestionMethod::Flat, o.hash_algo.as_str()),
        };
        let bad = || PathError::BadHashAlgo {
            output: output.to_string(),
            algo: o.hash_algo.clone(),
        };
        let algo = HashAlgo::ALL
            .into_iter()
            .find(|a| a.name() == algo)
            .ok_or_else(bad)?;
        let hash = Hash::parse_unprefixed(&o.hash, algo).map_err(|source| PathError::Hash {
            output: output.to_string(),
            source,
        })?;
        Ok(Some((method, hash)))
    }

    /// Computes and fills in the output paths (and the environment variables
    /// named after outputs), as `derivationStrict` does before writing a `.drv`.
    /// `input_hash` gives the modulo hash of an input derivation by its path.
    pub fn fill_output_paths<E: From<PathError>>(
        &mut self,
        store_dir: &StoreDir,
        input_hash: &mut dyn FnMut(&str) -> Result<[u8; 32], E>,
    ) -> Result<(), E> {
        let name = self.name().ok_or(PathError::NoName)?.to_string();
        if self.is_fixed_output() {
            let (method, hash) = self
                .fixed_hash("out")?
                .expect("is_fixed_output checked the hash");
            let path = store_dir
                .make_fixed_output_path(&name, method, &hash, &[])
                .map_err(PathError::from)?;
            let full = store_dir.display(&path);
            self.outputs
                .get_mut("out")
                .expect("fixed output exists")
                .path = full.clone();
            self.env.insert("out".into(), full);
            return Ok(());
        }
        let modulo = self.hash_modulo(true, input_hash)?;
        let modulo =
            Hash::from_digest(HashAlgo::Sha256, &modulo).expect("32 bytes is a sha256 digest");
        let names: Vec<String> = self.outputs.keys().cloned().collect();
        for out in names {
            let path = store_dir
                .make_output_path(&modulo, &out, &name)
                .map_err(PathError::from)?;
            let full = store_dir.display(&path);
            self.outputs
                .get_mut(&out)
                .expect("output listed above")
                .path = full.clone();
            self.env.insert(out, full);
        }
        Ok(())
    }

    /// The store path of this derivation's `.drv` file: a text path named
    /// `<name>.drv` referring to its input sources and input derivations.
    pub fn drv_path(&self, store_dir: &StoreDir) -> Result<StorePath, PathError> {
        let name = self.name().ok_or(PathError::NoName)?;
        let mut refs = Vec::with_capacity(self.input_srcs.len() + self.input_drvs.len());
        for p in self.input_srcs.iter().chain(self.input_drvs.keys()) {
            refs.push(store_dir.parse_path(p)?);
        }
        let hash = HashAlgo::Sha256.digest(self.to_aterm().as_bytes());
        Ok(store_dir.make_text_path(&format!("{name}.drv"), &hash, &refs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &[&str] = &["simple", "multi", "fixedFlat", "fixedRec", "dependent"];

    fn golden(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/drv/");
        std::fs::read(format!("{dir}{name}.drv"))
            .expect("golden .drv written by testdata/drv/regen.sh")
    }

    #[test]
    fn golden_drvs_round_trip_byte_for_byte() {
        for name in GOLDEN {
            let bytes = golden(name);
            let drv = Derivation::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(drv.to_aterm().as_bytes(), &bytes[..], "{name}");
        }
    }

    #[test]
    fn escapes_survive_round_trip() {
        let drv = Derivation::parse(&golden("multi")).unwrap();
        assert_eq!(drv.args[1], "quote\" backslash\\ newline\n tab\t cr\r");
        assert_eq!(drv.outputs.len(), 3);
        assert!(!drv.is_fixed_output());
        let fixed = Derivation::parse(&golden("fixedRec")).unwrap();
        assert!(fixed.is_fixed_output());
        assert_eq!(fixed.outputs["out"].hash_algo, "r:sha256");
    }

    #[test]
    fn truncation_is_reported_with_offset() {
        let bytes = golden("simple");
        for cut in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            let err = Derivation::parse(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, ParseError::Eof { offset, .. } if offset == cut),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn garbage_and_trailing_data_are_errors() {
        let err = Derivation::parse(b"Derive([x").unwrap_err();
        assert_eq!(
            err,
            ParseError::Unexpected {
                offset: 8,
                found: 'x',
                expected: "("
            }
        );
        let mut bytes = golden("simple");
        let len = bytes.len();
        bytes.push(b' ');
        assert_eq!(
            Derivation::parse(&bytes).unwrap_err(),
            ParseError::Trailing { offset: len }
        );
    }

    /// Recomputes every golden derivation's output paths and `.drv` path from
    /// scratch and compares with what Nix wrote.
    #[test]
    fn output_and_drv_paths_equal_nix() {
        let store = StoreDir::new("/nix/store").unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/drv/");
        let mut by_path = BTreeMap::new();
        for name in GOLDEN {
            let path = std::fs::read_to_string(format!("{dir}{name}.path")).unwrap();
            by_path.insert(
                path.trim().to_string(),
                Derivation::parse(&golden(name)).unwrap(),
            );
        }
        for (path, drv) in &by_path {
            let mut fresh = drv.clone();
            for o in fresh.outputs.values_mut() {
                o.path.clear();
            }
            for k in drv.outputs.keys() {
                fresh.env.insert(k.clone(), String::new());
            }
            let mut lookup = |p: &str| -> Result<[u8; 32], PathError> {
                fn modulo(all: &BTreeMap<String, Derivation>, p: &str) -> [u8; 32] {
                    all[p]
                        .hash_modulo(false, &mut |q| Ok::<_, PathError>(modulo(all, q)))
                        .unwrap()
                }
                Ok(modulo(&by_path, p))
            };
            fresh.fill_output_paths(&store, &mut lookup).unwrap();
            assert_eq!(&fresh, drv, "output paths of {path}");
            assert_eq!(store.display(&fresh.drv_path(&store).unwrap()), *path);
        }
    }

    #[test]
    fn duplicate_env_is_rejected() {
        let text = br#"Derive([],[],[],"s","b",[],[("a","1"),("a","2")])"#;
        assert!(matches!(
            Derivation::parse(text),
            Err(ParseError::Duplicate {
                what: "environment variable",
                ..
            })
        ));
    }
}
