//! NAR compression as binary caches use it: zstd (our default), xz, none.
//!
//! Encoders wrap a writer and decoders a reader, so a NAR flows through
//! compression and hashing in one pass without being held in memory.

use std::io::{self, Read, Write};

use crate::format::hash::HashSink;
use crate::format::narinfo::Compression;

/// zstd level for pushes and the server. Nix's `compression=zstd` uses
/// libarchive's default, 3; we default to 1, which costs about half the CPU
/// for files about 10% larger (1 033 MiB of `/usr/lib` binaries: 332 MiB at
/// 1, 298 MiB at 3; compression was two thirds of a push's CPU time at 3).
/// Every level gives standard zstd frames that Nix decodes alike.
pub const ZSTD_LEVEL: i32 = 1;
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
    /// compresses about twice as fast as 3 for files about 10% larger.
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

/// Chunks handed between the threads of [`with_read_ahead`].
const AHEAD_CHUNK: usize = 1 << 20;
/// Chunks in flight between them.
const AHEAD_CHUNKS: usize = 4;

/// Calls `f` with a reader that yields what `inner` yields, read ahead on
/// another thread: reading `inner` (a download, a decompressor) overlaps
/// with what `f` does with the bytes (hashing, unpacking), so one stream
/// keeps two cores busy. An error of `inner` reaches `f`'s reader at the
/// point it happened; when `f` returns early, the reading thread stops at
/// its next chunk.
pub fn with_read_ahead<R: Read + Send, T>(inner: R, f: impl FnOnce(&mut dyn Read) -> T) -> T {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD_CHUNKS);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut inner = inner;
            loop {
                let mut chunk = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(AHEAD_CHUNK));
                chunk.resize(AHEAD_CHUNK, 0);
                let mut got = 0;
                let mut failed = None;
                while got < chunk.len() {
                    match inner.read(&mut chunk[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                chunk.truncate(got);
                let end = got == 0 || failed.is_some();
                if got > 0 && full_tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = full_tx.send(Err(e));
                }
                if end {
                    return;
                }
            }
        });
        let mut reader = AheadReader {
            full: full_rx,
            empty: empty_tx,
            cur: Vec::new(),
            pos: 0,
        };
        f(&mut reader)
        // Dropping `reader` here makes the reading thread's next send fail.
    })
}

struct AheadReader {
    full: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    empty: std::sync::mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for AheadReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            match self.full.recv() {
                // The reading thread ended: end of stream (its error came before).
                Err(_) => return Ok(0),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(chunk)) => {
                    let old = std::mem::replace(&mut self.cur, chunk);
                    // The reading thread may be gone already; then the buffer is dropped.
                    let _ = self.empty.send(old);
                    self.pos = 0;
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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

    /// A reader that fails after `ok` bytes.
    struct FailsAfter {
        data: Vec<u8>,
        pos: usize,
        ok: usize,
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos >= self.ok {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut off"));
            }
            let n = buf.len().min(self.ok - self.pos).min(7919);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn read_ahead_yields_the_stream_then_its_error() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
        // Whole stream, read in odd sizes.
        let out = with_read_ahead(&data[..], |r| {
            let mut out = Vec::new();
            let mut buf = [0u8; 1000];
            loop {
                let n = r.read(&mut buf).expect("read");
                if n == 0 {
                    return out;
                }
                out.extend_from_slice(&buf[..n]);
            }
        });
        assert_eq!(out, data);
        // An error mid-stream comes after exactly the bytes read before it.
        let failing = FailsAfter {
            data: data.clone(),
            pos: 0,
            ok: 2_500_000,
        };
        let (got, err) = with_read_ahead(failing, |r| {
            let mut out = Vec::new();
            let err = r.read_to_end(&mut out).expect_err("the error arrives");
            (out, err)
        });
        assert_eq!(got, data[..2_500_000]);
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        // A consumer that stops early does not hang the reader, which has
        // more chunks than fit in flight.
        let long = vec![1u8; 10 * AHEAD_CHUNK];
        let first = with_read_ahead(&long[..], |r| {
            let mut b = [0u8; 10];
            r.read_exact(&mut b).map(|()| b)
        })
        .expect("first bytes");
        assert_eq!(first, [1u8; 10]);
    }
}
