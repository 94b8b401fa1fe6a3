//! Nix's wire encoding, as `nix-store --serve` and the daemon use it: every
//! number is a 64-bit little-endian word, a string is its length as such a
//! word, its bytes and zero padding to the next multiple of 8, and a list is
//! its length followed by its items.
//!
//! The peer is untrusted: every read is bounded (string length, list length)
//! and padding must be zero, so a hostile stream fails with a named error
//! instead of making us allocate what it claims.

use std::io::{self, Read, Write};

/// The longest string accepted: a derivation's environment holds whole
/// build scripts, but not more than this.
pub const MAX_STRING: u64 = 64 << 20;

/// The most items in one list (store path sets, arguments, environment).
pub const MAX_ITEMS: u64 = 1 << 20;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The stream ended or failed.
    #[error("reading from the peer: {0}")]
    Io(#[from] io::Error),
    /// A string longer than [`MAX_STRING`] was announced.
    #[error("the peer sent a string of {0} bytes, more than the {MAX_STRING} allowed")]
    StringTooLong(u64),
    /// A list longer than [`MAX_ITEMS`] was announced.
    #[error("the peer sent a list of {0} items, more than the {MAX_ITEMS} allowed")]
    TooManyItems(u64),
    /// Padding after a string was not zero.
    #[error("the peer sent non-zero padding after a string")]
    BadPadding,
    /// A string was not UTF-8 (paths and names must be).
    #[error("the peer sent a string that is not UTF-8")]
    NotUtf8,
    /// A number did not fit where it goes.
    #[error("the peer sent {value} for {what}, which is out of range")]
    OutOfRange {
        /// What the number was.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

/// The most bytes one message (a command with its arguments, or an answer)
/// may take, NARs aside: string and list limits alone would let a peer send
/// a million strings of 64 MiB.
pub const MAX_MESSAGE: u64 = 128 << 20;

/// Reads at most `left` bytes through it; asking for more is an error, so a
/// message that runs past [`MAX_MESSAGE`] fails instead of growing memory.
pub struct MessageLimit<'a> {
    inner: &'a mut dyn Read,
    left: u64,
}

impl<'a> MessageLimit<'a> {
    /// A fresh budget of [`MAX_MESSAGE`] over `inner`.
    pub fn new(inner: &'a mut dyn Read) -> MessageLimit<'a> {
        MessageLimit {
            inner,
            left: MAX_MESSAGE,
        }
    }

    /// The stream itself, outside the budget (a NAR that follows a message,
    /// bounded by its own declared size).
    pub fn raw(&mut self) -> &mut dyn Read {
        &mut *self.inner
    }
}

impl Read for MessageLimit<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the peer sent a message longer than {MAX_MESSAGE} bytes"),
            ));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads one 64-bit number.
pub fn read_u64(r: &mut dyn Read) -> Result<u64, WireError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads a number that is a boolean (any non-zero value is true, as in Nix).
pub fn read_bool(r: &mut dyn Read) -> Result<bool, WireError> {
    Ok(read_u64(r)? != 0)
}

/// Reads a number that must fit an `i64` (times, which Nix writes as `time_t`).
pub fn read_i64(r: &mut dyn Read, what: &'static str) -> Result<i64, WireError> {
    let v = read_u64(r)?;
    i64::try_from(v).map_err(|_| WireError::OutOfRange { what, value: v })
}

/// Reads a string's bytes.
pub fn read_bytes(r: &mut dyn Read) -> Result<Vec<u8>, WireError> {
    let len = read_u64(r)?;
    if len > MAX_STRING {
        return Err(WireError::StringTooLong(len));
    }
    let mut v = Vec::new();
    // `take` bounds the allocation by what actually arrives.
    r.take(len).read_to_end(&mut v)?;
    if v.len() as u64 != len {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    let mut pad = [0u8; 8];
    let pad = &mut pad[..padding(len)];
    r.read_exact(pad)?;
    if pad.iter().any(|&b| b != 0) {
        return Err(WireError::BadPadding);
    }
    Ok(v)
}

/// Reads a UTF-8 string.
pub fn read_string(r: &mut dyn Read) -> Result<String, WireError> {
    String::from_utf8(read_bytes(r)?).map_err(|_| WireError::NotUtf8)
}

/// Reads a list's length.
pub fn read_count(r: &mut dyn Read) -> Result<u64, WireError> {
    let n = read_u64(r)?;
    if n > MAX_ITEMS {
        return Err(WireError::TooManyItems(n));
    }
    Ok(n)
}

/// Reads a list of strings.
pub fn read_strings(r: &mut dyn Read) -> Result<Vec<String>, WireError> {
    let n = read_count(r)?;
    (0..n).map(|_| read_string(r)).collect()
}

/// Bytes of zero padding after a string of `len` bytes.
pub fn padding(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}

/// Writes one 64-bit number.
pub fn write_u64(w: &mut dyn Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// Writes a boolean as 0 or 1.
pub fn write_bool(w: &mut dyn Write, v: bool) -> io::Result<()> {
    write_u64(w, u64::from(v))
}

/// Writes a string.
pub fn write_bytes(w: &mut dyn Write, s: &[u8]) -> io::Result<()> {
    write_u64(w, s.len() as u64)?;
    w.write_all(s)?;
    w.write_all(&[0u8; 8][..padding(s.len() as u64)])
}

/// Writes a string.
pub fn write_string(w: &mut dyn Write, s: &str) -> io::Result<()> {
    write_bytes(w, s.as_bytes())
}

/// Writes a list of strings.
pub fn write_strings<'a>(
    w: &mut dyn Write,
    items: impl ExactSizeIterator<Item = &'a str>,
) -> io::Result<()> {
    write_u64(w, items.len() as u64)?;
    for s in items {
        write_string(w, s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_padded_to_eight_bytes() {
        let mut v = Vec::new();
        write_string(&mut v, "hello").unwrap();
        assert_eq!(v, b"\x05\0\0\0\0\0\0\0hello\0\0\0");
        let mut empty = Vec::new();
        write_string(&mut empty, "").unwrap();
        assert_eq!(empty, [0u8; 8]);
        assert_eq!(read_string(&mut &v[..]).unwrap(), "hello");
        assert_eq!(read_string(&mut &empty[..]).unwrap(), "");
    }

    #[test]
    fn a_message_may_not_outgrow_its_budget() {
        // Two strings of 40 MiB... and a third: past 128 MiB in all.
        let big = vec![b'a'; 40 << 20];
        let mut v = Vec::new();
        for _ in 0..4 {
            write_bytes(&mut v, &big).unwrap();
        }
        let mut src = &v[..];
        let mut limited = MessageLimit::new(&mut src);
        for _ in 0..3 {
            read_bytes(&mut limited).unwrap();
        }
        assert!(read_bytes(&mut limited).is_err());
    }

    #[test]
    fn hostile_lengths_and_padding_fail_without_allocating() {
        let huge = u64::MAX.to_le_bytes();
        assert!(matches!(
            read_bytes(&mut &huge[..]),
            Err(WireError::StringTooLong(_))
        ));
        assert!(matches!(
            read_count(&mut &huge[..]),
            Err(WireError::TooManyItems(_))
        ));
        // Announces 1 000 bytes, sends 3.
        let mut short = 1000u64.to_le_bytes().to_vec();
        short.extend_from_slice(b"abc");
        assert!(matches!(read_bytes(&mut &short[..]), Err(WireError::Io(_))));
        let mut bad = Vec::new();
        write_string(&mut bad, "abc").unwrap();
        bad[12] = 1;
        assert!(matches!(
            read_bytes(&mut &bad[..]),
            Err(WireError::BadPadding)
        ));
    }
}
