//! NAR compression as binary caches use it: zstd (our default), xz, none.
//!
//! Encoders wrap a writer and decoders a reader, so a NAR flows through
//! compression and hashing in one pass without being held in memory.

use std::io::{self, Read, Write};

use crate::format::hash::HashSink;
use crate::format::narinfo::Compression;

/// zstd level for pushes and the server: a good speed/size balance; Nix uses 3 too.
pub const ZSTD_LEVEL: i32 = 3;
/// xz preset for pushes (Nix's default for xz caches is 6).
pub const XZ_PRESET: u32 = 6;

/// Whether this crate can write and read `c`.
pub fn supported(c: &Compression) -> bool {
    matches!(c, Compression::None | Compression::Xz | Compression::Zstd)
}

fn unsupported(c: &Compression) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("compression method {c:?} is not supported (none, xz, zstd are)"),
    )
}

/// A writer that compresses into an inner writer; [`Encoder::finish`] flushes
/// the compressed trailer and returns the inner writer.
pub enum Encoder<W: Write> {
    None(W),
    Xz(xz2::write::XzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(c: &Compression, inner: W) -> io::Result<Encoder<W>> {
        Encoder::with_size(c, inner, None)
    }

    /// Like [`Encoder::new`], told the exact length of what will be written:
    /// zstd then sizes its window (and memory) to the input, which keeps
    /// many small NARs compressed at once cheap.
    pub fn with_size(c: &Compression, inner: W, size: Option<u64>) -> io::Result<Encoder<W>> {
        Encoder::with_options(c, inner, size, ZSTD_LEVEL)
    }

    /// Like [`Encoder::with_size`], with the zstd level to use (ignored by the
    /// other methods). Lower levels trade size for speed: on binaries, level 1
    /// compresses about twice as fast as 3 for files a few percent larger.
    pub fn with_options(
        c: &Compression,
        inner: W,
        size: Option<u64>,
        zstd_level: i32,
    ) -> io::Result<Encoder<W>> {
        Ok(match c {
            Compression::None => Encoder::None(inner),
            Compression::Xz => Encoder::Xz(xz2::write::XzEncoder::new(inner, XZ_PRESET)),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(inner, zstd_level)?;
                // A frame checksum makes a corrupted file fail in the decoder, before the NAR hash check.
                e.include_checksum(true)?;
                if size.is_some() {
                    e.set_pledged_src_size(size)?;
                }
                Encoder::Zstd(e)
            }
            other => return Err(unsupported(other)),
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Xz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// A reader that decompresses `inner`.
pub fn decoder<'a, R: Read + Send + 'a>(
    c: &Compression,
    inner: R,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match c {
        Compression::None => Box::new(inner),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new(inner)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
        other => return Err(unsupported(other)),
    })
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    pub inner: R,
    pub sink: HashSink,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    pub inner: W,
    pub sink: HashSink,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sink.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_supported_method() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [Compression::None, Compression::Xz, Compression::Zstd] {
            let mut e = Encoder::new(&c, Vec::new()).expect("encoder");
            e.write_all(&data).expect("write");
            let packed = e.finish().expect("finish");
            let mut out = Vec::new();
            decoder(&c, &packed[..])
                .expect("decoder")
                .read_to_end(&mut out)
                .expect("read");
            assert_eq!(out, data, "{c}");
        }
        assert!(Encoder::new(&Compression::Bzip2, Vec::new()).is_err());
    }
}
