//! Streaming NAR serialisation from events.

use std::io::{self, Read, Write};

use thiserror::Error;

use super::{check_name, lossy, padding, NameProblem, MAGIC, MAX_TARGET_LEN};

/// Why a NAR could not be written. Misuse of the event order is reported,
/// not panicked on, so a caller's bug cannot produce a malformed NAR.
#[derive(Debug, Error)]
pub enum NarWriteError {
    #[error("cannot write NAR: {0}")]
    Io(#[from] io::Error),
    #[error("cannot read contents of file {name:?} for the NAR: {source}")]
    ReadContents { name: String, source: io::Error },
    #[error("file {name:?} ended after {got} of its {expected} bytes")]
    ShortFile {
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("invalid entry name {name:?}: {problem}")]
    InvalidName { name: String, problem: NameProblem },
    #[error(
        "entry {name:?} does not sort after {previous:?} (entries must be strictly ascending)"
    )]
    Unsorted { name: String, previous: String },
    #[error(
        "invalid symlink target {target:?}: it must be 1 to {MAX_TARGET_LEN} bytes without NUL"
    )]
    InvalidTarget { target: String },
    #[error("NAR events out of order: {0}")]
    Order(&'static str),
}

/// Writes a NAR to `W` from a sequence of node events.
///
/// The root node is given `name = None`; nodes inside a directory are given
/// `Some(name)`, in strictly ascending byte order. A directory is opened with
/// [`start_directory`](Self::start_directory) and closed with
/// [`end_directory`](Self::end_directory). Small pieces are gathered in a
/// buffer; large file contents go to `W` in chunks of up to 1 MiB.
pub struct NarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    /// Open directories, innermost last, each with the last name written in it.
    dirs: Vec<Option<Vec<u8>>>,
    root_written: bool,
}

const BUF_LIMIT: usize = 64 * 1024;
const CHUNK: usize = 1 << 20;

impl<W: Write> NarWriter<W> {
    /// Starts a NAR (writes the magic).
    pub fn new(out: W) -> NarWriter<W> {
        let mut w = NarWriter {
            out,
            buf: Vec::with_capacity(BUF_LIMIT + 4096),
            chunk: Vec::new(),
            dirs: Vec::new(),
            root_written: false,
        };
        w.put_str(MAGIC);
        w
    }

    fn put_u64(&mut self, n: u64) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    fn put_str(&mut self, s: &[u8]) {
        self.put_u64(s.len() as u64);
        self.buf.extend_from_slice(s);
        self.buf
            .extend_from_slice(&[0u8; 8][..padding(s.len() as u64)]);
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= BUF_LIMIT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Writes the framing that precedes a node's `"type"`.
    fn open_node(&mut self, name: Option<&[u8]>) -> Result<(), NarWriteError> {
        let Some(prev) = self.dirs.last_mut() else {
            if self.root_written {
                return Err(NarWriteError::Order("the NAR is already complete"));
            }
            if name.is_some() {
                return Err(NarWriteError::Order("the root node has no name"));
            }
            self.root_written = true;
            self.put_str(b"(");
            self.put_str(b"type");
            return Ok(());
        };
        let Some(name) = name else {
            return Err(NarWriteError::Order(
                "a node inside a directory needs a name",
            ));
        };
        if let Err(problem) = check_name(name) {
            return Err(NarWriteError::InvalidName {
                name: lossy(name),
                problem,
            });
        }
        match prev {
            Some(p) if name <= p.as_slice() => {
                return Err(NarWriteError::Unsorted {
                    name: lossy(name),
                    previous: lossy(p),
                });
            }
            Some(p) => {
                p.clear();
                p.extend_from_slice(name);
            }
            None => *prev = Some(name.to_vec()),
        }
        self.put_str(b"entry");
        self.put_str(b"(");
        self.put_str(b"name");
        self.put_str(name);
        self.put_str(b"node");
        self.put_str(b"(");
        self.put_str(b"type");
        Ok(())
    }

    /// Closes a node, and the directory entry around it if there is one.
    fn close_node(&mut self) -> io::Result<()> {
        self.put_str(b")");
        if !self.dirs.is_empty() {
            self.put_str(b")");
        }
        self.maybe_flush()
    }

    /// Writes a regular file of exactly `size` bytes read from `contents`.
    /// Reading stops after `size` bytes; fewer is an error.
    pub fn file(
        &mut self,
        name: Option<&[u8]>,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> Result<(), NarWriteError> {
        self.open_node(name)?;
        self.put_str(b"regular");
        if executable {
            self.put_str(b"executable");
            self.put_str(b"");
        }
        self.put_str(b"contents");
        self.put_u64(size);
        let short = |got| NarWriteError::ShortFile {
            name: lossy(name.unwrap_or(b"")),
            expected: size,
            got,
        };
        let read_err = |source| NarWriteError::ReadContents {
            name: lossy(name.unwrap_or(b"")),
            source,
        };
        if size < BUF_LIMIT as u64 {
            // Small file: read straight into the token buffer, one write for many files.
            let start = self.buf.len();
            self.buf.resize(start + size as usize, 0);
            let got = read_full(contents, &mut self.buf[start..]).map_err(read_err)?;
            if got < size as usize {
                self.buf.truncate(start);
                return Err(short(got as u64));
            }
        } else {
            self.flush_buf()?;
            if self.chunk.len() < CHUNK {
                self.chunk = vec![0u8; CHUNK];
            }
            let mut left = size;
            while left > 0 {
                let want = left.min(CHUNK as u64) as usize;
                let got = read_full(contents, &mut self.chunk[..want]).map_err(read_err)?;
                self.out.write_all(&self.chunk[..got])?;
                left -= got as u64;
                if got < want {
                    return Err(short(size - left));
                }
            }
        }
        self.buf.extend_from_slice(&[0u8; 8][..padding(size)]);
        self.close_node()?;
        Ok(())
    }

    /// Writes a symlink pointing at `target` (1 to 4095 bytes, no NUL).
    pub fn symlink(&mut self, name: Option<&[u8]>, target: &[u8]) -> Result<(), NarWriteError> {
        if target.is_empty() || target.len() > MAX_TARGET_LEN || target.contains(&0) {
            return Err(NarWriteError::InvalidTarget {
                target: lossy(target),
            });
        }
        self.open_node(name)?;
        self.put_str(b"symlink");
        self.put_str(b"target");
        self.put_str(target);
        self.close_node()?;
        Ok(())
    }

    /// Opens a directory; its entries follow, then [`end_directory`](Self::end_directory).
    pub fn start_directory(&mut self, name: Option<&[u8]>) -> Result<(), NarWriteError> {
        self.open_node(name)?;
        self.put_str(b"directory");
        self.dirs.push(None);
        Ok(())
    }

    /// Closes the innermost open directory.
    pub fn end_directory(&mut self) -> Result<(), NarWriteError> {
        if self.dirs.pop().is_none() {
            return Err(NarWriteError::Order(
                "end_directory without an open directory",
            ));
        }
        self.close_node()?;
        Ok(())
    }

    /// Checks the NAR is complete, flushes, and hands back the writer.
    pub fn finish(mut self) -> Result<W, NarWriteError> {
        if !self.root_written || !self.dirs.is_empty() {
            return Err(NarWriteError::Order(
                "finish before the root node is complete",
            ));
        }
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads until `buf` is full or the reader ends; returns how much was read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
