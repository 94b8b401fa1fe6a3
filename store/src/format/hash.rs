//! Cryptographic hashes as Nix names, parses and prints them.
//!
//! A [`Hash`] is an algorithm plus its digest. It prints as base16, nix32,
//! base64 or SRI (`sha256-<base64>`), with or without an `algo:` prefix, and
//! parses the forms Nix 2.8 accepts: `algo:<digest>` and bare `<digest>` (when
//! the algorithm is known) pick the encoding by length (base16, then nix32,
//! then base64), and `algo-<base64>` is SRI. [`HashSink`] hashes whatever is
//! written to it and counts the bytes, so a NAR can be hashed as it streams.

use std::fmt;
use std::io;
use std::str::FromStr;

use data_encoding::BASE64;
use sha2::Digest as _;
use thiserror::Error;

use super::nix32;

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// All algorithms, in Nix's order.
    pub const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];

    /// Digest length in bytes.
    pub const fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// The name Nix uses (`md5`, `sha1`, `sha256`, `sha512`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Length of the base16 form.
    pub const fn base16_len(self) -> usize {
        self.size() * 2
    }

    /// Length of the nix32 form.
    pub const fn nix32_len(self) -> usize {
        nix32::encoded_len(self.size())
    }

    /// Length of the (padded) base64 form.
    pub const fn base64_len(self) -> usize {
        self.size().div_ceil(3) * 4
    }

    /// Hashes a byte string in one go.
    pub fn digest(self, data: &[u8]) -> Hash {
        let mut sink = HashSink::new(self);
        sink.update(data);
        sink.finish().0
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, HashError> {
        match s {
            "md5" => Ok(HashAlgo::Md5),
            "sha1" => Ok(HashAlgo::Sha1),
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            _ => Err(HashError::UnknownAlgo(s.to_owned())),
        }
    }
}

/// A textual encoding of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base16,
    Nix32,
    Base64,
}

/// Why a hash string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    #[error("unknown hash algorithm {0:?} (expected md5, sha1, sha256 or sha512)")]
    UnknownAlgo(String),
    #[error("hash {0:?} does not say its algorithm (expected `algo:hash` or `algo-base64`)")]
    MissingAlgo(String),
    #[error("hash {hash:?} has algorithm {found}, expected {expected}")]
    AlgoMismatch {
        hash: String,
        found: HashAlgo,
        expected: HashAlgo,
    },
    #[error("hash {hash:?} has wrong length {len} for {algo} (base16 {}, nix32 {}, base64 {})", algo.base16_len(), algo.nix32_len(), algo.base64_len())]
    WrongLength {
        hash: String,
        len: usize,
        algo: HashAlgo,
    },
    #[error("invalid base16 {algo} hash {hash:?}: character {pos} is not a hex digit")]
    BadBase16 {
        hash: String,
        algo: HashAlgo,
        pos: usize,
    },
    #[error("invalid nix32 {algo} hash {hash:?}: {source}")]
    BadNix32 {
        hash: String,
        algo: HashAlgo,
        source: nix32::Nix32Error,
    },
    #[error("invalid base64 {algo} hash {hash:?}")]
    BadBase64 { hash: String, algo: HashAlgo },
    #[error("digest is {len} bytes long, {algo} needs {}", algo.size())]
    WrongDigestSize { algo: HashAlgo, len: usize },
}

/// A digest together with its algorithm. Invariant: `digest().len() == algo().size()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; 64],
}

impl Hash {
    /// Builds a hash from raw digest bytes, which must have the algorithm's size.
    pub fn from_digest(algo: HashAlgo, digest: &[u8]) -> Result<Hash, HashError> {
        if digest.len() != algo.size() {
            return Err(HashError::WrongDigestSize {
                algo,
                len: digest.len(),
            });
        }
        let mut bytes = [0u8; 64];
        bytes[..digest.len()].copy_from_slice(digest);
        Ok(Hash { algo, bytes })
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The raw digest.
    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.algo.size()]
    }

    /// Lower-case hex.
    pub fn to_base16(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.algo.base16_len());
        for b in self.digest() {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 0xf) as usize] as char);
        }
        s
    }

    pub fn to_nix32(&self) -> String {
        nix32::encode(self.digest())
    }

    /// Standard, padded base64.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.digest())
    }

    /// Subresource-integrity form, e.g. `sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// The digest alone in the given encoding.
    pub fn encode(&self, encoding: Encoding) -> String {
        match encoding {
            Encoding::Base16 => self.to_base16(),
            Encoding::Nix32 => self.to_nix32(),
            Encoding::Base64 => self.to_base64(),
        }
    }

    /// `algo:<digest>` in the given encoding (`sha256:0mdq…`), as Nix's
    /// `to_string(base, true)` prints it.
    pub fn to_typed(&self, encoding: Encoding) -> String {
        format!("{}:{}", self.algo, self.encode(encoding))
    }

    /// Parses `algo:<digest>` (encoding chosen by length) or SRI `algo-<base64>`.
    pub fn parse_prefixed(s: &str) -> Result<Hash, HashError> {
        if let Some((algo, rest)) = s.split_once(':') {
            let algo: HashAlgo = algo.parse()?;
            return Hash::parse_unprefixed(rest, algo);
        }
        if let Some((algo, rest)) = s.split_once('-') {
            let algo: HashAlgo = algo.parse()?;
            return Hash::parse_base64(rest, algo);
        }
        Err(HashError::MissingAlgo(s.to_owned()))
    }

    /// Parses a hash that may carry an algorithm prefix (`algo:` or SRI); when
    /// it carries none, `algo` must be given. A prefix that contradicts `algo`
    /// is an error, as in Nix's `Hash::parseAny`.
    pub fn parse_any(s: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let prefixed = s.contains(':') || s.contains('-');
        match (prefixed, algo) {
            (true, expected) => {
                let h = Hash::parse_prefixed(s)?;
                match expected {
                    Some(e) if e != h.algo => Err(HashError::AlgoMismatch {
                        hash: s.to_owned(),
                        found: h.algo,
                        expected: e,
                    }),
                    _ => Ok(h),
                }
            }
            (false, Some(a)) => Hash::parse_unprefixed(s, a),
            (false, None) => Err(HashError::MissingAlgo(s.to_owned())),
        }
    }

    /// Parses a bare digest of a known algorithm, picking base16, nix32 or
    /// base64 by its length exactly as Nix does.
    pub fn parse_unprefixed(s: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        let len = s.len();
        if len == algo.base16_len() {
            let mut d = [0u8; 64];
            for (i, pair) in s.as_bytes().chunks(2).enumerate() {
                let hi = hex_value(pair[0]).ok_or(HashError::BadBase16 {
                    hash: s.to_owned(),
                    algo,
                    pos: 2 * i,
                })?;
                let lo = hex_value(pair[1]).ok_or(HashError::BadBase16 {
                    hash: s.to_owned(),
                    algo,
                    pos: 2 * i + 1,
                })?;
                d[i] = hi << 4 | lo;
            }
            Hash::from_digest(algo, &d[..algo.size()])
        } else if len == algo.nix32_len() {
            let d = nix32::decode(s).map_err(|source| HashError::BadNix32 {
                hash: s.to_owned(),
                algo,
                source,
            })?;
            Hash::from_digest(algo, &d)
        } else if len == algo.base64_len() {
            Hash::parse_base64(s, algo)
        } else {
            Err(HashError::WrongLength {
                hash: s.to_owned(),
                len,
                algo,
            })
        }
    }

    fn parse_base64(s: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        let bad = || HashError::BadBase64 {
            hash: s.to_owned(),
            algo,
        };
        let d = BASE64.decode(s.as_bytes()).map_err(|_| bad())?;
        if d.len() != algo.size() {
            return Err(bad());
        }
        Hash::from_digest(algo, &d)
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `algo:<nix32>`, the form narinfo files and most Nix output use.
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_nix32())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({}:{})", self.algo, self.to_base16())
    }
}

/// Parses the prefixed forms (`algo:…`, SRI); see [`Hash::parse_prefixed`].
impl FromStr for Hash {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, HashError> {
        Hash::parse_prefixed(s)
    }
}

enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// An `io::Write` that hashes everything written to it and counts the bytes.
///
/// Writes never fail. `finish` returns the hash and the byte count (for a
/// NAR: its hash and size).
pub struct HashSink {
    hasher: Hasher,
    len: u64,
}

impl HashSink {
    pub fn new(algo: HashAlgo) -> HashSink {
        let hasher = match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        };
        HashSink { hasher, len: 0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        match &mut self.hasher {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of everything written, and how many bytes that was.
    pub fn finish(self) -> (Hash, u64) {
        let (algo, digest): (HashAlgo, Vec<u8>) = match self.hasher {
            Hasher::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            Hasher::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        (
            Hash::from_digest(algo, &digest).expect("the hasher matches its algorithm"),
            self.len,
        )
    }
}

impl io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.update(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256_HEX: &str =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY_SHA256_NIX32: &str = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    const EMPTY_SHA256_B64: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn prints_all_encodings() {
        let h = HashAlgo::Sha256.digest(b"");
        assert_eq!(h.to_base16(), EMPTY_SHA256_HEX);
        assert_eq!(h.to_nix32(), EMPTY_SHA256_NIX32);
        assert_eq!(h.to_base64(), EMPTY_SHA256_B64);
        assert_eq!(h.to_sri(), format!("sha256-{EMPTY_SHA256_B64}"));
        assert_eq!(h.to_string(), format!("sha256:{EMPTY_SHA256_NIX32}"));
        assert_eq!(
            h.to_typed(Encoding::Base16),
            format!("sha256:{EMPTY_SHA256_HEX}")
        );
    }

    #[test]
    fn known_digests() {
        // `echo -n hello | nix hash file --type X --base16 /dev/stdin` and coreutils agree.
        assert_eq!(
            HashAlgo::Md5.digest(b"hello").to_base16(),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert_eq!(
            HashAlgo::Sha1.digest(b"hello").to_base16(),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        // `nix-hash --flat --base32 --type X`.
        assert_eq!(
            HashAlgo::Sha512.digest(b"").to_nix32(),
            "0zdl9zrg8r3i9c1g90lgg9ip5ijzv3yhz91i0zzn3r8ap9ws784gkp9dk9j3aglhgf1amqb0pj21mh7h1nxcl18akqvvf7ggqsy30yg"
        );
        assert_eq!(
            HashAlgo::Md5.digest(b"hello").to_nix32(),
            "4jqlbi14cxf6wpcajbphm40hax"
        );
        assert_eq!(
            HashAlgo::Sha1.digest(b"hello").to_nix32(),
            "9m1skbnr5i43n3yypvda5s65vhfwdx5a"
        );
    }

    #[test]
    fn parses_every_form() {
        let h = HashAlgo::Sha256.digest(b"");
        for s in [
            format!("sha256:{EMPTY_SHA256_HEX}"),
            format!("sha256:{}", EMPTY_SHA256_HEX.to_uppercase()),
            format!("sha256:{EMPTY_SHA256_NIX32}"),
            format!("sha256:{EMPTY_SHA256_B64}"),
            format!("sha256-{EMPTY_SHA256_B64}"),
        ] {
            assert_eq!(s.parse::<Hash>().unwrap(), h, "{s}");
            assert_eq!(
                Hash::parse_any(&s, Some(HashAlgo::Sha256)).unwrap(),
                h,
                "{s}"
            );
        }
        for s in [EMPTY_SHA256_HEX, EMPTY_SHA256_NIX32, EMPTY_SHA256_B64] {
            assert_eq!(Hash::parse_any(s, Some(HashAlgo::Sha256)).unwrap(), h);
        }
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            "sha256".parse::<Hash>(),
            Err(HashError::MissingAlgo(_))
        ));
        assert!(matches!(
            "sha3:abc".parse::<Hash>(),
            Err(HashError::UnknownAlgo(_))
        ));
        assert!(matches!(
            "sha256:abc".parse::<Hash>(),
            Err(HashError::WrongLength {
                len: 3,
                algo: HashAlgo::Sha256,
                ..
            })
        ));
        let bad_hex = format!("sha256:{}g", &EMPTY_SHA256_HEX[..63]);
        assert!(matches!(
            bad_hex.parse::<Hash>(),
            Err(HashError::BadBase16 { pos: 63, .. })
        ));
        let bad32 = format!("sha256:e{}", &EMPTY_SHA256_NIX32[1..]);
        assert!(matches!(
            bad32.parse::<Hash>(),
            Err(HashError::BadNix32 { .. })
        ));
        // SRI must be base64 even when its length would fit another encoding.
        assert!(matches!(
            format!("sha256-{EMPTY_SHA256_HEX}").parse::<Hash>(),
            Err(HashError::BadBase64 { .. })
        ));
        assert!(matches!(
            Hash::parse_any(&format!("sha1:{EMPTY_SHA256_HEX}"), Some(HashAlgo::Sha256)),
            Err(HashError::WrongLength { .. })
        ));
        let sha1 = HashAlgo::Sha1.digest(b"");
        assert!(matches!(
            Hash::parse_any(&sha1.to_sri(), Some(HashAlgo::Sha256)),
            Err(HashError::AlgoMismatch { .. })
        ));
    }

    #[test]
    fn round_trips_for_every_algo() {
        for algo in HashAlgo::ALL {
            let h = algo.digest(b"round trip");
            for e in [Encoding::Base16, Encoding::Nix32, Encoding::Base64] {
                assert_eq!(Hash::parse_unprefixed(&h.encode(e), algo).unwrap(), h);
                assert_eq!(h.to_typed(e).parse::<Hash>().unwrap(), h);
            }
            assert_eq!(h.to_sri().parse::<Hash>().unwrap(), h);
        }
    }

    #[test]
    fn sink_counts_and_hashes_in_pieces() {
        use std::io::Write;
        let mut sink = HashSink::new(HashAlgo::Sha256);
        sink.write_all(b"hel").unwrap();
        sink.write_all(b"lo").unwrap();
        let (h, n) = sink.finish();
        assert_eq!(n, 5);
        assert_eq!(h, HashAlgo::Sha256.digest(b"hello"));
    }
}
