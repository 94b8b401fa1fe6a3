//! The client side of `nix-store --serve`, over any pair of streams (an SSH
//! channel's stdin and stdout, or pipes in tests).
//!
//! What the server says is untrusted: strings and lists are bounded by
//! [`wire`](super::wire), and a NAR it sends is only written into a store
//! through [`LocalStore::import_nar`], against a hash the caller trusts.

use std::collections::BTreeSet;
use std::io::{self, BufReader, BufWriter, Read, Write};

use crate::format::derivation::Derivation;
use crate::format::hash::Encoding;
use crate::local::PathInfo;

use super::wire::{self, read_string, read_strings, read_u64, MessageLimit, WireError};
use super::{
    write_derivation, BuildResult, BuildSettings, Command, WirePathInfo, MAGIC_1, MAGIC_2,
    PROTOCOL_VERSION,
};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading the answer failed (the server went away, or sent garbage).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Writing the request failed.
    #[error("writing to the server: {0}")]
    Write(#[source] io::Error),
    /// The server did not answer the greeting as a serve server.
    #[error("the server answered {0:#x}, not the serve protocol's magic number")]
    Magic(u64),
    /// The server speaks another major version.
    #[error("the server speaks serve protocol {0:#x}; major version 2 is needed")]
    Version(u64),
    /// The server is too old for a request.
    #[error("the server's serve protocol {version:#x} is too old for {what}")]
    TooOld {
        /// The server's version.
        version: u64,
        /// The request.
        what: &'static str,
    },
    /// The server answered about more paths than were asked about.
    #[error("the server sent more path infos than the {asked} asked for")]
    TooManyAnswers {
        /// Paths asked about.
        asked: usize,
    },
    /// The server refused to add a path.
    #[error("the server did not accept {0}")]
    NotAdded(String),
}

/// A session with a serve server.
pub struct ServeClient<R: Read, W: Write> {
    r: BufReader<R>,
    w: BufWriter<W>,
    version: u64,
}

impl<R: Read, W: Write> ServeClient<R, W> {
    /// Greets the server on `from`/`to` and learns its version.
    pub fn connect(from: R, to: W) -> Result<Self, ClientError> {
        let mut c = ServeClient {
            r: BufReader::with_capacity(1 << 16, from),
            w: BufWriter::with_capacity(1 << 16, to),
            version: 0,
        };
        c.u64(MAGIC_1)?;
        c.u64(PROTOCOL_VERSION)?;
        c.flush()?;
        let magic = read_u64(&mut c.r)?;
        if magic != MAGIC_2 {
            return Err(ClientError::Magic(magic));
        }
        c.version = read_u64(&mut c.r)?;
        if super::major(c.version) != 0x200 {
            return Err(ClientError::Version(c.version));
        }
        Ok(c)
    }

    /// The server's protocol version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Which of `paths` are valid on the server.
    /// With `substitute`, the server first fetches what it can of them from
    /// its own caches (`builders-use-substitutes`).
    pub fn query_valid_paths(
        &mut self,
        paths: &BTreeSet<String>,
        lock: bool,
        substitute: bool,
    ) -> Result<BTreeSet<String>, ClientError> {
        self.u64(Command::QueryValidPaths as u64)?;
        self.u64(u64::from(lock))?;
        self.u64(u64::from(substitute))?;
        self.strings(paths)?;
        self.flush()?;
        Ok(read_strings(&mut MessageLimit::new(&mut self.r))?
            .into_iter()
            .collect())
    }

    /// The registrations of those of `paths` that are valid on the server.
    pub fn query_path_infos(
        &mut self,
        paths: &BTreeSet<String>,
    ) -> Result<Vec<WirePathInfo>, ClientError> {
        if super::minor(self.version) < 4 {
            return Err(ClientError::TooOld {
                version: self.version,
                what: "path infos with NAR hashes",
            });
        }
        self.u64(Command::QueryPathInfos as u64)?;
        self.strings(paths)?;
        self.flush()?;
        let r = &mut MessageLimit::new(&mut self.r);
        let mut out = Vec::new();
        loop {
            let path = read_string(r)?;
            if path.is_empty() {
                return Ok(out);
            }
            // At most one answer per path asked about.
            if out.len() >= paths.len() {
                return Err(ClientError::TooManyAnswers { asked: paths.len() });
            }
            out.push(WirePathInfo {
                path,
                deriver: read_string(r)?,
                references: read_strings(r)?.into_iter().collect(),
                download_size: read_u64(r)?,
                nar_size: read_u64(r)?,
                nar_hash: read_string(r)?,
                ca: read_string(r)?,
                sigs: read_strings(r)?.into_iter().collect(),
            });
        }
    }

    /// The closure of `paths` on the server.
    pub fn query_closure(
        &mut self,
        paths: &BTreeSet<String>,
        include_outputs: bool,
    ) -> Result<BTreeSet<String>, ClientError> {
        self.u64(Command::QueryClosure as u64)?;
        self.u64(u64::from(include_outputs))?;
        self.strings(paths)?;
        self.flush()?;
        Ok(read_strings(&mut MessageLimit::new(&mut self.r))?
            .into_iter()
            .collect())
    }

    /// Asks for the NAR of `path`, whose size the caller learnt from
    /// [`query_path_infos`](Self::query_path_infos), and hands `f` a reader
    /// of exactly `nar_size` bytes (the protocol has no length prefix, and NAR
    /// parsers read ahead). What `f` leaves unread is drained afterwards.
    /// Untrusted: check it against a trusted hash, as `import_nar` does.
    pub fn dump_store_path<T>(
        &mut self,
        path: &str,
        nar_size: u64,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, ClientError> {
        self.u64(Command::DumpStorePath as u64)?;
        self.string(path)?;
        self.flush()?;
        let mut nar = (&mut self.r).take(nar_size);
        let out = f(&mut nar);
        io::copy(&mut nar, &mut io::sink()).map_err(WireError::Io)?;
        Ok(out)
    }

    /// Adds a path with its NAR, which `write_nar` writes (exactly
    /// `info.nar_size` bytes, or the session is broken and an error returned).
    pub fn add_to_store_nar(
        &mut self,
        info: &PathInfo,
        print: &dyn Fn(&crate::format::store_path::StorePath) -> String,
        write_nar: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), ClientError> {
        if super::minor(self.version) < 5 {
            return Err(ClientError::TooOld {
                version: self.version,
                what: "adding paths with AddToStoreNar",
            });
        }
        let shown = print(&info.path);
        self.u64(Command::AddToStoreNar as u64)?;
        self.string(&shown)?;
        self.string(&info.deriver.as_ref().map(print).unwrap_or_default())?;
        self.string(&info.nar_hash.encode(Encoding::Base16))?;
        let refs: BTreeSet<String> = info.references.iter().map(print).collect();
        self.strings(&refs)?;
        self.u64(info.registration_time.max(0) as u64)?;
        self.u64(info.nar_size)?;
        self.u64(0)?;
        let sigs: BTreeSet<String> = info.signatures.iter().cloned().collect();
        self.strings(&sigs)?;
        self.string(info.ca.as_deref().unwrap_or(""))?;
        let mut counted = Counting {
            inner: &mut self.w,
            n: 0,
        };
        write_nar(&mut counted).map_err(ClientError::Write)?;
        if counted.n != info.nar_size {
            return Err(ClientError::Write(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the NAR of {shown} has {} bytes, not the {} registered",
                    counted.n, info.nar_size
                ),
            )));
        }
        self.flush()?;
        if read_u64(&mut self.r)? != 1 {
            return Err(ClientError::NotAdded(shown));
        }
        Ok(())
    }

    /// Builds a derivation (its input derivations' outputs among its input
    /// sources, already on the server) and returns the result.
    pub fn build_derivation(
        &mut self,
        drv_path: &str,
        drv: &Derivation,
        settings: &BuildSettings,
    ) -> Result<BuildResult, ClientError> {
        self.u64(Command::BuildDerivation as u64)?;
        self.string(drv_path)?;
        write_derivation(&mut self.w, drv).map_err(ClientError::Write)?;
        settings
            .write(&mut self.w, self.version)
            .map_err(ClientError::Write)?;
        self.flush()?;
        Ok(BuildResult::read(
            &mut MessageLimit::new(&mut self.r),
            self.version,
        )?)
    }

    fn u64(&mut self, v: u64) -> Result<(), ClientError> {
        wire::write_u64(&mut self.w, v).map_err(ClientError::Write)
    }

    fn string(&mut self, s: &str) -> Result<(), ClientError> {
        wire::write_string(&mut self.w, s).map_err(ClientError::Write)
    }

    fn strings(&mut self, items: &BTreeSet<String>) -> Result<(), ClientError> {
        wire::write_strings(&mut self.w, items.iter().map(String::as_str))
            .map_err(ClientError::Write)
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        self.w.flush().map_err(ClientError::Write)
    }
}

/// Counts what passes through.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
