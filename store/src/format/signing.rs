//! Ed25519 keys and signatures in Nix's text forms, and the store path
//! fingerprint that binary-cache signatures cover.
//!
//! - A secret key is `name:base64(64 bytes)`, the 32-byte seed followed by
//!   the 32-byte public key, as libsodium (and so Nix) lays it out.
//! - A public key is `name:base64(32 bytes)`.
//! - A signature is `name:base64(64 bytes)`; the name says which key made it.
//! - The fingerprint of a path is
//!   `1;<store path>;sha256:<nix32 nar hash>;<nar size>;<comma-separated full reference paths>`.
//!
//! This module does no I/O: reading key files and making random seeds is the
//! caller's business ([`SecretKey::from_seed`] takes the seed).

use std::collections::BTreeSet;
use std::fmt;

use data_encoding::BASE64;
use ed25519_dalek::{Signer as _, Verifier as _};
use thiserror::Error;

use super::hash::{Encoding, Hash, HashAlgo};
use super::store_path::{StoreDir, StorePath};

/// Why a key or signature text was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{what} {text:?} has no ':' separating the key name from the base64 data")]
    NoColon { what: &'static str, text: String },
    #[error("{what} has an empty key name")]
    EmptyName { what: &'static str },
    #[error("{what} named {name:?} is not valid base64")]
    BadBase64 { what: &'static str, name: String },
    #[error("{what} named {name:?} is {len} bytes long, expected {expected}")]
    WrongLength {
        what: &'static str,
        name: String,
        len: usize,
        expected: usize,
    },
    #[error(
        "secret key named {name:?} is inconsistent: its public half does not belong to its seed"
    )]
    InconsistentSecret { name: String },
    #[error("public key named {name:?} is not a valid ed25519 point")]
    BadPublicKey { name: String },
}

/// Why a fingerprint could not be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FingerprintError {
    #[error("NAR hash of {path} is {algo}, signatures need sha256")]
    NotSha256 { path: String, algo: HashAlgo },
}

/// Splits `name:base64` and decodes the data.
fn split_named(what: &'static str, text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let text = text.trim();
    let (name, data) = text.split_once(':').ok_or_else(|| KeyError::NoColon {
        what,
        text: text.chars().take(40).collect(),
    })?;
    if name.is_empty() {
        return Err(KeyError::EmptyName { what });
    }
    let bytes = BASE64
        .decode(data.as_bytes())
        .map_err(|_| KeyError::BadBase64 {
            what,
            name: name.to_owned(),
        })?;
    Ok((name.to_owned(), bytes))
}

fn exact<const N: usize>(
    what: &'static str,
    name: &str,
    bytes: &[u8],
) -> Result<[u8; N], KeyError> {
    bytes.try_into().map_err(|_| KeyError::WrongLength {
        what,
        name: name.to_owned(),
        len: bytes.len(),
        expected: N,
    })
}

/// A named ed25519 secret key (`name:base64(seed ‖ public)`).
#[derive(Clone)]
pub struct SecretKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SecretKey {
    // Never print the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Parses Nix's secret key text (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        const WHAT: &str = "secret key";
        let (name, bytes) = split_named(WHAT, text)?;
        let pair = exact::<64>(WHAT, &name, &bytes)?;
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&pair)
            .map_err(|_| KeyError::InconsistentSecret { name: name.clone() })?;
        Ok(SecretKey { name, key })
    }

    /// The key with this name and 32-byte seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SecretKey, KeyError> {
        if name.is_empty() {
            return Err(KeyError::EmptyName { what: "secret key" });
        }
        Ok(SecretKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`, giving `name:base64(signature)`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            name: self.name.clone(),
            bytes: self.key.sign(message).to_bytes(),
        }
    }

    /// Nix's text form, `name:base64(seed ‖ public)`.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            BASE64.encode(&self.key.to_keypair_bytes())
        )
    }
}

/// A named ed25519 public key (`name:base64(public)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses Nix's public key text (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        const WHAT: &str = "public key";
        let (name, bytes) = split_named(WHAT, text)?;
        let raw = exact::<32>(WHAT, &name, &bytes)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map_err(|_| KeyError::BadPublicKey { name: name.clone() })?;
        Ok(PublicKey { name, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `sig` was made by this key over `message` (a signature by a
    /// key of another name never verifies).
    pub fn verify(&self, message: &[u8], sig: &Signature) -> bool {
        sig.name == self.name
            && self
                .key
                .verify(message, &ed25519_dalek::Signature::from_bytes(&sig.bytes))
                .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

/// A named signature, `name:base64(64 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signature {
    name: String,
    bytes: [u8; 64],
}

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, KeyError> {
        const WHAT: &str = "signature";
        let (name, bytes) = split_named(WHAT, text)?;
        let bytes = exact::<64>(WHAT, &name, &bytes)?;
        Ok(Signature { name, bytes })
    }

    /// The name of the key that made it.
    pub fn key_name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(&self.bytes))
    }
}

/// The text a store path signature covers, as Nix's
/// `ValidPathInfo::fingerprint`: references are full paths, sorted (a
/// `BTreeSet<StorePath>` orders by base name, which is the order of full
/// paths in one store directory).
pub fn fingerprint(
    store_dir: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: &BTreeSet<StorePath>,
) -> Result<String, FingerprintError> {
    if nar_hash.algo() != HashAlgo::Sha256 {
        return Err(FingerprintError::NotSha256 {
            path: store_dir.display(path),
            algo: nar_hash.algo(),
        });
    }
    let refs: Vec<String> = references.iter().map(|r| store_dir.display(r)).collect();
    Ok(format!(
        "1;{};{};{};{}",
        store_dir.display(path),
        nar_hash.to_typed(Encoding::Nix32),
        nar_size,
        refs.join(",")
    ))
}

/// Whether any of `signatures` (texts as stored in a narinfo or the
/// database; unparsable ones are skipped) is a valid signature of
/// `fingerprint` by one of `keys`.
pub fn any_valid<'a>(
    fingerprint: &str,
    signatures: impl IntoIterator<Item = &'a str>,
    keys: &[PublicKey],
) -> bool {
    signatures
        .into_iter()
        .filter_map(|s| Signature::parse(s).ok())
        .any(|sig| {
            keys.iter()
                .filter(|k| k.name == sig.name)
                .any(|k| k.verify(fingerprint.as_bytes(), &sig))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `nix-store --generate-binary-cache-key test-key-1 sk pk` (Nix 2.8).
    const NIX_SECRET: &str = "test-key-1:Rlvq0hmlJlcBpqzXzFOYyEvGEYwUGaSKyCRZ2jmrzb8ojMglknrAXgSVsqv+sNyik+93SUe/k5fMO59VnRXPAQ==";
    const NIX_PUBLIC: &str = "test-key-1:KIzIJZJ6wF4ElbKr/rDcopPvd0lHv5OXzDufVZ0VzwE=";
    // The Sig line `nix copy --to file://…?secret-key=sk` wrote for x.drv, and its fields.
    const NIX_SIG: &str = "test-key-1:6wX7cE5qUHhyzz7I+W0rTmVD5fW5Zt3QXHYwH+fQuBwTKpv1by6YliLDr89ZHSlkJs286/QYDOrjZllLvo66AA==";

    fn drv_fingerprint() -> String {
        let dir = StoreDir::new("/nix/store").expect("valid store dir");
        let path =
            StorePath::from_base_name("gkfly44ag401gdnz7p5jbc0x4vzgpsbi-x.drv").expect("valid");
        let refs = [
            "l43qfskksv9l99ia2xisvqvn9cpggyd7-dep.txt",
            "5z27gnnd868waxh653ksyix7hy2g7g8k-src",
        ]
        .iter()
        .map(|r| StorePath::from_base_name(r).expect("valid"))
        .collect();
        let nar_hash =
            Hash::parse_prefixed("sha256:1vknl9pxf31zxzqy7rs5jgcqdz3912snywbscl1bsdwh9y4hg5xx")
                .expect("valid");
        fingerprint(&dir, &path, &nar_hash, 560, &refs).expect("sha256")
    }

    #[test]
    fn fingerprint_is_nixs() {
        assert_eq!(
            drv_fingerprint(),
            "1;/nix/store/gkfly44ag401gdnz7p5jbc0x4vzgpsbi-x.drv;sha256:1vknl9pxf31zxzqy7rs5jgcqdz3912snywbscl1bsdwh9y4hg5xx;560;/nix/store/5z27gnnd868waxh653ksyix7hy2g7g8k-src,/nix/store/l43qfskksv9l99ia2xisvqvn9cpggyd7-dep.txt"
        );
    }

    #[test]
    fn nix_key_pair_round_trips_and_matches() {
        let sk = SecretKey::parse(NIX_SECRET).expect("Nix secret key parses");
        assert_eq!(sk.to_text(), NIX_SECRET);
        assert_eq!(sk.public().to_string(), NIX_PUBLIC);
        assert_eq!(PublicKey::parse(NIX_PUBLIC).expect("parses"), sk.public());
    }

    #[test]
    fn nix_signature_verifies_and_ours_is_identical() {
        let fp = drv_fingerprint();
        let pk = PublicKey::parse(NIX_PUBLIC).expect("parses");
        let sig = Signature::parse(NIX_SIG).expect("parses");
        assert!(pk.verify(fp.as_bytes(), &sig));
        // Ed25519 is deterministic, so our signature equals Nix's byte for byte.
        let sk = SecretKey::parse(NIX_SECRET).expect("parses");
        assert_eq!(sk.sign(fp.as_bytes()).to_string(), NIX_SIG);
        assert!(any_valid(&fp, [NIX_SIG], std::slice::from_ref(&pk)));
        // One changed byte of the fingerprint breaks it.
        let tampered = fp.replace(";560;", ";561;");
        assert!(!pk.verify(tampered.as_bytes(), &sig));
        assert!(!any_valid(&tampered, [NIX_SIG], &[pk]));
    }

    #[test]
    fn key_of_another_name_or_value_does_not_verify() {
        let fp = drv_fingerprint();
        let sig = Signature::parse(NIX_SIG).expect("parses");
        let other = SecretKey::from_seed("test-key-1", &[7; 32]).expect("valid");
        assert!(!other.public().verify(fp.as_bytes(), &sig));
        let renamed = PublicKey::parse(&NIX_PUBLIC.replace("test-key-1", "other")).expect("parses");
        assert!(!renamed.verify(fp.as_bytes(), &sig));
    }

    #[test]
    fn malformed_keys_are_named() {
        assert!(matches!(
            SecretKey::parse("nocolon"),
            Err(KeyError::NoColon { .. })
        ));
        assert!(matches!(
            PublicKey::parse(":AAAA"),
            Err(KeyError::EmptyName { .. })
        ));
        assert!(matches!(
            PublicKey::parse("k:!!"),
            Err(KeyError::BadBase64 { .. })
        ));
        let e = PublicKey::parse("k:AAAA").expect_err("3 bytes");
        assert_eq!(
            e.to_string(),
            "public key named \"k\" is 3 bytes long, expected 32"
        );
        // Secret whose public half was swapped for another key's.
        let sk = SecretKey::from_seed("k", &[1; 32]).expect("valid");
        let mut pair = sk.key.to_keypair_bytes();
        pair[40] ^= 1;
        let text = format!("k:{}", BASE64.encode(&pair));
        assert!(matches!(
            SecretKey::parse(&text),
            Err(KeyError::InconsistentSecret { .. })
        ));
    }

    #[test]
    fn non_sha256_nar_hash_has_no_fingerprint() {
        let dir = StoreDir::new("/nix/store").expect("valid");
        let path =
            StorePath::from_base_name("gkfly44ag401gdnz7p5jbc0x4vzgpsbi-x.drv").expect("valid");
        let h = HashAlgo::Sha1.digest(b"x");
        assert!(fingerprint(&dir, &path, &h, 1, &BTreeSet::new()).is_err());
    }
}
