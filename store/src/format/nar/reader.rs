//! Streaming, fully validating NAR parser.

use std::io::{self, BufRead, BufReader, Read};

use thiserror::Error;

use super::{check_name, lossy, padding, NameProblem, MAGIC, MAX_NAME_LEN, MAX_TARGET_LEN};

/// Longest keyword string (`nix-archive-1` is 13 bytes); longer is not a keyword.
const MAX_TOKEN_LEN: u64 = 16;

/// Why a byte stream is not a valid NAR. Every variant carries the byte
/// offset (from the start of the NAR) of the string or padding at fault.
#[derive(Debug, Error)]
pub enum NarError {
    #[error("I/O error reading NAR at byte {offset}: {source}")]
    Io { offset: u64, source: io::Error },
    #[error("NAR truncated at byte {offset} while reading {what}")]
    Truncated { offset: u64, what: &'static str },
    #[error("not a NAR: expected \"nix-archive-1\" at byte 0, found {found:?}")]
    BadMagic { found: String },
    #[error("unexpected {found:?} at byte {offset}, expected {expected}")]
    UnexpectedToken {
        offset: u64,
        expected: &'static str,
        found: String,
    },
    #[error("{what} at byte {offset} claims {len} bytes, more than the {max} allowed")]
    TooLong {
        offset: u64,
        what: &'static str,
        len: u64,
        max: u64,
    },
    #[error("non-zero padding byte at byte {offset}")]
    NonZeroPadding { offset: u64 },
    #[error("invalid entry name {name:?} at byte {offset}: {problem}")]
    InvalidName {
        offset: u64,
        name: String,
        problem: NameProblem,
    },
    #[error("entry {name:?} at byte {offset} does not sort after the previous entry {previous:?}")]
    Unsorted {
        offset: u64,
        name: String,
        previous: String,
    },
    #[error("duplicate entry {name:?} at byte {offset}")]
    Duplicate { offset: u64, name: String },
    #[error("executable marker at byte {offset} has a non-empty value")]
    NonEmptyExecutableMarker { offset: u64 },
    #[error(
        "invalid symlink target {target:?} at byte {offset}: it must not be empty or contain NUL"
    )]
    InvalidSymlinkTarget { offset: u64, target: String },
}

impl NarError {
    /// The byte offset the error refers to (0 for a bad magic).
    pub fn offset(&self) -> u64 {
        match self {
            NarError::BadMagic { .. } => 0,
            NarError::Io { offset, .. }
            | NarError::Truncated { offset, .. }
            | NarError::UnexpectedToken { offset, .. }
            | NarError::TooLong { offset, .. }
            | NarError::NonZeroPadding { offset }
            | NarError::InvalidName { offset, .. }
            | NarError::Unsorted { offset, .. }
            | NarError::Duplicate { offset, .. }
            | NarError::NonEmptyExecutableMarker { offset }
            | NarError::InvalidSymlinkTarget { offset, .. } => *offset,
        }
    }
}

/// The kind of a node, as announced by the NAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file; its `size` bytes of contents follow and can be read
    /// from the [`NarReader`] before the next call to `next`.
    File {
        executable: bool,
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A directory; its entries follow as events, closed by [`Event::EndDirectory`].
    Directory,
}

/// One step of a NAR walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A node starts. `name` is `None` for the root, else the entry name
    /// (validated, strictly ascending within its directory).
    Node { name: Option<Vec<u8>>, node: Node },
    /// The innermost open directory ends.
    EndDirectory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Between entries of the innermost directory.
    InDirectory,
    /// Inside a file's contents.
    InFile,
    Done,
}

/// A pull parser over a NAR stream.
///
/// Call [`next`](Self::next) until it returns `Ok(None)`. After a
/// [`Node::File`] event, the contents may be read through
/// [`read_contents`](Self::read_contents) (or `io::Read`); whatever is not
/// read is skipped (and its padding checked) by the next `next`. The reader
/// stops right after the root node: it does not read trailing bytes.
/// After an error the reader is poisoned and keeps returning errors.
pub struct NarReader<R: Read> {
    r: BufReader<R>,
    offset: u64,
    state: State,
    /// Open directories, innermost last, with the last entry name seen in each.
    dirs: Vec<Option<Vec<u8>>>,
    file_left: u64,
    file_size: u64,
    failed: bool,
}

impl<R: Read> NarReader<R> {
    pub fn new(r: R) -> NarReader<R> {
        NarReader {
            r: BufReader::with_capacity(64 * 1024, r),
            offset: 0,
            state: State::Start,
            dirs: Vec::new(),
            file_left: 0,
            file_size: 0,
            failed: false,
        }
    }

    /// Bytes of the NAR consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Current directory depth (0 at the root).
    pub fn depth(&self) -> usize {
        self.dirs.len()
    }

    /// Hands back the underlying reader (with whatever it had buffered dropped).
    pub fn into_inner(self) -> R {
        self.r.into_inner()
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), NarError> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(NarError::Truncated {
                offset: self.offset,
                what,
            }),
            Err(source) => Err(NarError::Io {
                offset: self.offset,
                source,
            }),
        }
    }

    fn read_u64(&mut self, what: &'static str) -> Result<u64, NarError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn check_padding(&mut self, len: u64) -> Result<(), NarError> {
        let pad = padding(len);
        if pad > 0 {
            let start = self.offset;
            let mut b = [0u8; 8];
            self.read_exact(&mut b[..pad], "padding")?;
            if let Some(i) = b[..pad].iter().position(|&x| x != 0) {
                return Err(NarError::NonZeroPadding {
                    offset: start + i as u64,
                });
            }
        }
        Ok(())
    }

    /// Reads one string of at most `max` bytes; returns it and its offset.
    fn read_string(&mut self, max: u64, what: &'static str) -> Result<(Vec<u8>, u64), NarError> {
        let start = self.offset;
        let len = self.read_u64(what)?;
        if len > max {
            return Err(NarError::TooLong {
                offset: start,
                what,
                len,
                max,
            });
        }
        let mut s = vec![0u8; len as usize];
        self.read_exact(&mut s, what)?;
        self.check_padding(len)?;
        Ok((s, start))
    }

    /// Reads a keyword and checks it is `want`.
    fn expect(&mut self, want: &'static str) -> Result<(), NarError> {
        let start = self.offset;
        let len = self.read_u64(want)?;
        if len != want.len() as u64 {
            // Do not read a string of the wrong size: it may be absurdly long.
            let found = if len <= MAX_TOKEN_LEN {
                let mut s = vec![0u8; len as usize];
                self.read_exact(&mut s, want)?;
                lossy(&s)
            } else {
                format!("<string of {len} bytes>")
            };
            return Err(NarError::UnexpectedToken {
                offset: start,
                expected: want,
                found,
            });
        }
        let mut s = [0u8; MAX_TOKEN_LEN as usize];
        let s = &mut s[..want.len()];
        self.read_exact(s, want)?;
        if s != want.as_bytes() {
            return Err(NarError::UnexpectedToken {
                offset: start,
                expected: want,
                found: lossy(s),
            });
        }
        self.check_padding(len)
    }

    /// Reads a keyword of at most [`MAX_TOKEN_LEN`] bytes.
    fn token(&mut self, expected: &'static str) -> Result<(Vec<u8>, u64), NarError> {
        let start = self.offset;
        let len = self.read_u64(expected)?;
        if len > MAX_TOKEN_LEN {
            let found = format!("<string of {len} bytes>");
            return Err(NarError::UnexpectedToken {
                offset: start,
                expected,
                found,
            });
        }
        let mut s = vec![0u8; len as usize];
        self.read_exact(&mut s, expected)?;
        self.check_padding(len)?;
        Ok((s, start))
    }

    /// Returns the next event, or `None` once the root node is complete.
    #[allow(clippy::should_implement_trait)] // a fallible, lending-style pull API, not an Iterator
    pub fn next(&mut self) -> Result<Option<Event>, NarError> {
        if self.failed {
            return Err(NarError::Io {
                offset: self.offset,
                source: io::Error::other("NAR reader used after an error"),
            });
        }
        let r = self.step();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn step(&mut self) -> Result<Option<Event>, NarError> {
        match self.state {
            State::Done => Ok(None),
            State::Start => {
                let (magic, _) = self.token("\"nix-archive-1\"").map_err(|e| match e {
                    NarError::UnexpectedToken { found, .. } => NarError::BadMagic { found },
                    e => e,
                })?;
                if magic != MAGIC {
                    return Err(NarError::BadMagic {
                        found: lossy(&magic),
                    });
                }
                self.node(None).map(Some)
            }
            State::InFile => {
                self.skip_contents()?;
                self.after_node()?;
                self.step()
            }
            State::InDirectory => {
                let (tok, at) = self.token("\"entry\" or \")\"")?;
                match tok.as_slice() {
                    b")" => {
                        // That was the directory node's own ")".
                        self.dirs.pop();
                        self.close_entry()?;
                        Ok(Some(Event::EndDirectory))
                    }
                    b"entry" => {
                        self.expect("(")?;
                        self.expect("name")?;
                        let name = self.entry_name()?;
                        self.expect("node")?;
                        self.node(Some(name)).map(Some)
                    }
                    _ => Err(NarError::UnexpectedToken {
                        offset: at,
                        expected: "\"entry\" or \")\"",
                        found: lossy(&tok),
                    }),
                }
            }
        }
    }

    fn entry_name(&mut self) -> Result<Vec<u8>, NarError> {
        let (name, at) = self.read_string(MAX_NAME_LEN as u64, "entry name")?;
        if let Err(problem) = check_name(&name) {
            return Err(NarError::InvalidName {
                offset: at,
                name: lossy(&name),
                problem,
            });
        }
        let prev = self
            .dirs
            .last_mut()
            .expect("entries are read only inside a directory");
        if let Some(p) = prev {
            match name.as_slice().cmp(p.as_slice()) {
                std::cmp::Ordering::Equal => {
                    return Err(NarError::Duplicate {
                        offset: at,
                        name: lossy(&name),
                    })
                }
                std::cmp::Ordering::Less => {
                    return Err(NarError::Unsorted {
                        offset: at,
                        name: lossy(&name),
                        previous: lossy(p),
                    })
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        *prev = Some(name.clone());
        Ok(name)
    }

    /// Parses `"(" "type" …` up to the point where the node's contents start.
    fn node(&mut self, name: Option<Vec<u8>>) -> Result<Event, NarError> {
        self.expect("(")?;
        self.expect("type")?;
        let (ty, at) = self.token("a node type")?;
        let node = match ty.as_slice() {
            b"regular" => {
                let (tok, at) = self.token("\"executable\" or \"contents\"")?;
                let executable = match tok.as_slice() {
                    b"executable" => {
                        let marker_at = self.offset;
                        let (v, _) = self.token("\"\"")?;
                        if !v.is_empty() {
                            return Err(NarError::NonEmptyExecutableMarker { offset: marker_at });
                        }
                        self.expect("contents")?;
                        true
                    }
                    b"contents" => false,
                    _ => {
                        return Err(NarError::UnexpectedToken {
                            offset: at,
                            expected: "\"executable\" or \"contents\"",
                            found: lossy(&tok),
                        })
                    }
                };
                let size = self.read_u64("file size")?;
                self.file_size = size;
                self.file_left = size;
                self.state = State::InFile;
                Node::File { executable, size }
            }
            b"symlink" => {
                self.expect("target")?;
                let (target, at) = self.read_string(MAX_TARGET_LEN as u64, "symlink target")?;
                if target.is_empty() || target.contains(&0) {
                    return Err(NarError::InvalidSymlinkTarget {
                        offset: at,
                        target: lossy(&target),
                    });
                }
                self.after_node()?;
                Node::Symlink { target }
            }
            b"directory" => {
                self.dirs.push(None);
                self.state = State::InDirectory;
                Node::Directory
            }
            _ => {
                return Err(NarError::UnexpectedToken {
                    offset: at,
                    expected: "\"regular\", \"symlink\" or \"directory\"",
                    found: lossy(&ty),
                })
            }
        };
        Ok(Event::Node { name, node })
    }

    /// Reads the `)` closing a node and, inside a directory, the `)` closing its entry.
    fn after_node(&mut self) -> Result<(), NarError> {
        self.expect(")")?;
        self.close_entry()
    }

    /// Inside a directory, reads the `)` closing the entry just finished.
    fn close_entry(&mut self) -> Result<(), NarError> {
        if self.dirs.is_empty() {
            self.state = State::Done;
        } else {
            self.expect(")")?;
            self.state = State::InDirectory;
        }
        Ok(())
    }

    fn skip_contents(&mut self) -> Result<(), NarError> {
        while self.file_left > 0 {
            let avail = match self.r.fill_buf() {
                Ok(b) => b.len() as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(NarError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            };
            if avail == 0 {
                return Err(NarError::Truncated {
                    offset: self.offset,
                    what: "file contents",
                });
            }
            let n = avail.min(self.file_left);
            self.r.consume(n as usize);
            self.offset += n;
            self.file_left -= n;
        }
        self.check_padding(self.file_size)
    }

    /// Reads contents of the current file into `buf`; `Ok(0)` at its end
    /// (or when no file is being read). A short NAR is an error, never a short file.
    pub fn read_contents(&mut self, buf: &mut [u8]) -> Result<usize, NarError> {
        if self.state != State::InFile || self.file_left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.file_left) as usize;
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.failed = true;
                    return Err(NarError::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        };
        if n == 0 {
            self.failed = true;
            return Err(NarError::Truncated {
                offset: self.offset,
                what: "file contents",
            });
        }
        self.offset += n as u64;
        self.file_left -= n as u64;
        Ok(n)
    }

    /// Bytes of the current file's contents not read yet.
    pub fn contents_left(&self) -> u64 {
        if self.state == State::InFile {
            self.file_left
        } else {
            0
        }
    }

    /// Reads and validates the whole NAR, discarding it; returns its size in bytes.
    pub fn validate_all(&mut self) -> Result<u64, NarError> {
        while self.next()?.is_some() {}
        Ok(self.offset)
    }
}

/// Reads the current file's contents; errors are [`NarError`]s wrapped in `io::Error`.
impl<R: Read> Read for NarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_contents(buf).map_err(|e| match e {
            NarError::Io { source, .. } => source,
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }
}
