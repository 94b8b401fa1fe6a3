//! Nix's base-32 encoding ("nix32"), byte for byte as Nix prints and parses it.
//!
//! It differs from RFC 4648 base32 in three ways: the alphabet
//! (`0123456789abcdfghijklmnpqrsvwxyz`, which omits `e`, `o`, `u` and `t`),
//! no padding, and the bit order: the *last* character holds the lowest five
//! bits of the *first* byte, i.e. the string is the little-endian number
//! printed most significant digit first.

use thiserror::Error;

/// The 32 digits, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Why a nix32 string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Nix32Error {
    #[error("invalid nix32 character {ch:?} at position {pos}")]
    InvalidChar { ch: char, pos: usize },
    #[error("nix32 string has length {len}, expected {expected} for {bytes} bytes")]
    WrongLength {
        len: usize,
        expected: usize,
        bytes: usize,
    },
    #[error("nix32 string encodes more than {bytes} bytes (non-zero high bits)")]
    Overflow { bytes: usize },
}

/// Number of nix32 characters for `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n * 8 - 1) / 5 + 1
    }
}

/// Number of bytes a nix32 string of `len` characters decodes to.
pub const fn decoded_len(len: usize) -> usize {
    len * 5 / 8
}

fn digit_value(c: u8) -> Option<u8> {
    // A small reverse table; `e o u t` and everything non-alphanumeric map to None.
    const INVALID: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut t = [INVALID; 256];
        let mut i = 0;
        while i < 32 {
            t[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    match TABLE[c as usize] {
        INVALID => None,
        v => Some(v),
    }
}

/// Encodes bytes as nix32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = Vec::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let low = bytes[i] as u16 >> j;
        let high = if i + 1 < bytes.len() {
            (bytes[i + 1] as u16) << (8 - j)
        } else {
            0
        };
        out.push(ALPHABET[((low | high) & 0x1f) as usize]);
    }
    String::from_utf8(out).expect("the alphabet is ASCII")
}

/// Decodes a nix32 string into exactly `decoded_len(s.len())` bytes.
pub fn decode(s: &str) -> Result<Vec<u8>, Nix32Error> {
    let s = s.as_bytes();
    let size = decoded_len(s.len());
    let mut out = vec![0u8; size];
    decode_into(s, &mut out)?;
    Ok(out)
}

/// Decodes a nix32 string that must encode exactly `N` bytes.
pub fn decode_exact<const N: usize>(s: &str) -> Result<[u8; N], Nix32Error> {
    let expected = encoded_len(N);
    if s.len() != expected {
        return Err(Nix32Error::WrongLength {
            len: s.len(),
            expected,
            bytes: N,
        });
    }
    let mut out = [0u8; N];
    decode_into(s.as_bytes(), &mut out)?;
    Ok(out)
}

fn decode_into(s: &[u8], out: &mut [u8]) -> Result<(), Nix32Error> {
    let size = out.len();
    for (pos, &ch) in s.iter().enumerate() {
        let digit = digit_value(ch).ok_or(Nix32Error::InvalidChar {
            ch: ch as char,
            pos,
        })? as u16;
        // Character `pos` (from the left) carries bits starting at 5 * n, n counted from the right.
        let n = s.len() - pos - 1;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let shifted = digit << j;
        if i < size {
            out[i] |= shifted as u8;
        } else if shifted != 0 {
            return Err(Nix32Error::Overflow { bytes: size });
        }
        let carry = (shifted >> 8) as u8;
        if i + 1 < size {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(Nix32Error::Overflow { bytes: size });
        }
    }
    Ok(())
}

/// True if every byte of `s` is a nix32 digit.
pub fn is_valid(s: &str) -> bool {
    s.bytes().all(|c| digit_value(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_nix() {
        assert_eq!(encoded_len(16), 26); // md5
        assert_eq!(encoded_len(20), 32); // sha1, store path hash parts
        assert_eq!(encoded_len(32), 52); // sha256
        assert_eq!(encoded_len(64), 103); // sha512
        assert_eq!(decoded_len(52), 32);
        assert_eq!(decoded_len(103), 64);
    }

    #[test]
    fn known_values() {
        // sha256 of the empty string, as `nix hash file --base32` prints it.
        let sha256_empty =
            hex_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            encode(&sha256_empty),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").unwrap(),
            sha256_empty
        );
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x1f]), "0z");
        assert_eq!(encode(&[0xff]), "7z");
        assert_eq!(decode("7z").unwrap(), vec![0xff]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            decode("0e"),
            Err(Nix32Error::InvalidChar { ch: 'e', pos: 1 })
        );
        // 2 chars hold 10 bits, one byte: the top two bits must be zero.
        assert_eq!(decode("8z"), Err(Nix32Error::Overflow { bytes: 1 }));
        assert!(matches!(
            decode_exact::<20>("abc"),
            Err(Nix32Error::WrongLength { .. })
        ));
    }

    #[test]
    fn round_trip_all_lengths() {
        for n in 0..70usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&bytes)).unwrap(), bytes, "length {n}");
        }
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
