//! A reader that refuses to yield more bytes than a limit: what a cache or
//! snapshot says a stream holds (NarSize, FileSize, a manifest's member size)
//! bounds what is read from it, so a small file that expands to a huge one
//! (a zstd bomb) fails after the stated size instead of filling the disk.
//!
//! It does not check that the stream is as long as the limit; callers compare
//! the count with what they expected once the stream ends.

use std::io::{self, Read};

/// The most a compressed NAR file may hold, from the signed NarSize and the
/// unsigned FileSize: real compressors add a fraction of a percent to
/// incompressible data, so more than this is padding (a hostile cache sent
/// endless zstd skippable frames, which decompress to nothing and never
/// reach NarSize). `None` compression: exactly NarSize.
pub fn compressed_limit(uncompressed: bool, nar_size: u64, file_size: Option<u64>) -> u64 {
    let derived = if uncompressed {
        nar_size
    } else {
        nar_size
            .saturating_add(nar_size / 64)
            .saturating_add(1 << 20)
    };
    file_size.map_or(derived, |f| f.min(derived))
}

/// Yields what `inner` yields while the total stays within `limit`; the
/// read that would pass it fails with [`io::ErrorKind::InvalidData`] (and
/// nothing of it is handed on), as does every read after it.
#[derive(Debug)]
pub struct BoundedReader<R> {
    inner: R,
    limit: u64,
    read: u64,
    exceeded: bool,
    what: &'static str,
}

impl<R: Read> BoundedReader<R> {
    /// `what` names the stream in the error ("NAR", "compressed NAR file").
    pub fn new(inner: R, limit: u64, what: &'static str) -> BoundedReader<R> {
        BoundedReader {
            inner,
            limit,
            read: 0,
            exceeded: false,
            what,
        }
    }

    /// Whether the stream tried to go past the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Bytes handed on so far (never more than the limit).
    pub fn count(&self) -> u64 {
        self.read
    }

    /// The limit this reader enforces.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is longer than the {} bytes its metadata states",
                self.what, self.limit
            ),
        )
    }
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(self.too_long());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.limit - self.read;
        if left == 0 {
            // At the limit: one more byte means the stream is too long.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded = true;
                    Err(self.too_long())
                }
            };
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_a_stream_within_the_limit() {
        let data = vec![7u8; 1000];
        let mut r = BoundedReader::new(&data[..], 1000, "test");
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("within the limit");
        assert_eq!(out, data);
        assert!(!r.exceeded());
        assert_eq!(r.count(), 1000);
    }

    #[test]
    fn refuses_one_byte_more_and_hands_on_at_most_the_limit() {
        let data = vec![7u8; 1001];
        let mut r = BoundedReader::new(&data[..], 1000, "test stream");
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).expect_err("one byte too many");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("longer than the 1000 bytes"),
            "{err}"
        );
        assert!(out.len() <= 1000);
        assert!(r.exceeded());
        assert!(r.read(&mut [0u8; 4]).is_err(), "stays failed");
    }

    proptest::proptest! {
        /// Whatever the stream and the read sizes: a stream within the limit
        /// passes whole; a longer one fails, having handed on at most the limit.
        #[test]
        fn never_more_than_the_limit(
            len in 0usize..5000,
            limit in 0u64..5000,
            step in 1usize..700,
        ) {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut r = BoundedReader::new(&data[..], limit, "prop");
            let mut out = Vec::new();
            let mut buf = vec![0u8; step];
            let result = loop {
                match r.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => break Err(e),
                }
            };
            proptest::prop_assert!(out.len() as u64 <= limit);
            if len as u64 <= limit {
                proptest::prop_assert!(result.is_ok());
                proptest::prop_assert_eq!(out, data);
            } else {
                proptest::prop_assert!(result.is_err());
                proptest::prop_assert!(r.exceeded());
                proptest::prop_assert_eq!(&out[..], &data[..out.len()]);
            }
        }
    }

    #[test]
    fn zero_limit() {
        let mut r = BoundedReader::new(&b""[..], 0, "empty");
        assert_eq!(r.read(&mut [0u8; 4]).expect("empty is fine"), 0);
        let mut r = BoundedReader::new(&b"x"[..], 0, "empty");
        assert!(r.read(&mut [0u8; 4]).is_err());
    }
}
