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
