//! The server side of `nix-store --serve`: answers one client on a pair of
//! streams until it hangs up.
//!
//! As in Nix, a command that cannot be carried out (a write without
//! `--write`, a path that is not valid where one must be) ends the session
//! with an error: the protocol has no error reply outside the build commands.

use std::collections::BTreeSet;
use std::io::{self, BufReader, BufWriter, Read, Write};

use crate::format::derivation::Derivation;
use crate::format::hash::{Encoding, Hash, HashAlgo};
use crate::format::store_path::StorePath;
use crate::local::{LocalStore, NarExpectation};
use crate::nar_fs;

use super::wire::{self, read_bool, read_string, read_strings, read_u64, MessageLimit, WireError};
use super::{
    read_derivation, BuildResult, BuildSettings, BuildStatus, Command, MAGIC_1, MAGIC_2,
    PROTOCOL_VERSION,
};

/// Builds on behalf of a client (the builder crate implements it).
pub trait Builds {
    /// Builds `drv` (whose input derivations' outputs are among its input
    /// sources, all valid here) and registers its outputs. `drv_path` names it.
    fn build_derivation(
        &self,
        drv_path: &StorePath,
        drv: Derivation,
        settings: &BuildSettings,
    ) -> BuildResult;

    /// Builds derivations whose `.drv` files are valid here (`BuildPaths`):
    /// `Err((status, message))` when one fails.
    fn build_paths(
        &self,
        drvs: &[StorePath],
        settings: &BuildSettings,
    ) -> Result<(), (BuildStatus, String)>;

    /// Makes what it can of `paths` valid from the server's own binary
    /// caches (a client's `builders-use-substitutes`); failures leave a
    /// path missing, which the answer then says.
    fn substitute(&self, _paths: &[StorePath]) {}
}

/// A [`Builds`] that refuses every build (a store without a builder).
pub struct NoBuilds;

impl Builds for NoBuilds {
    fn build_derivation(&self, _: &StorePath, _: Derivation, _: &BuildSettings) -> BuildResult {
        BuildResult::failure(BuildStatus::MiscFailure, "this server does not build")
    }

    fn build_paths(&self, _: &[StorePath], _: &BuildSettings) -> Result<(), (BuildStatus, String)> {
        Err((
            BuildStatus::MiscFailure,
            "this server does not build".into(),
        ))
    }
}

/// Why a session ended in error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The session could not be set up.
    #[error("cannot set up the serve session: {0}")]
    Setup(#[source] io::Error),
    /// The client sent something unreadable.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Writing to the client failed.
    #[error("writing to the client: {0}")]
    Write(#[source] io::Error),
    /// The greeting was wrong.
    #[error("protocol mismatch: the client sent {0:#x}, not the serve protocol's magic number")]
    Magic(u64),
    /// The client's protocol major version is not 2.
    #[error("the client speaks serve protocol {0:#x}; this server speaks major version 2")]
    Version(u64),
    /// An unknown command number.
    #[error("unknown serve command {0}")]
    UnknownCommand(u64),
    /// A command this server does not implement.
    #[error("serve command {0:?} is not supported here (Nix uses it only with protocol versions before 2.5)")]
    Unsupported(Command),
    /// A write command without `--write`.
    #[error("{0} is not allowed: the server was started without --write")]
    NotAllowed(&'static str),
    /// A path the client named is unusable.
    #[error("{what} {path:?}: {reason}")]
    BadPath {
        /// What the path was for.
        what: &'static str,
        /// As sent.
        path: String,
        /// Why.
        reason: String,
    },
    /// A store operation failed.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// The store's error.
        source: Box<crate::local::Error>,
    },
    /// Serialising a store path failed.
    #[error("dumping {path}: {source}")]
    Dump {
        /// The store path.
        path: String,
        /// The error.
        source: nar_fs::DumpError,
    },
}

/// Settings of a session.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Allow adding paths and building (`--write`).
    pub write: bool,
}

/// Serves one client reading `input` and writing `output`, until it closes
/// `input` between commands.
pub fn serve(
    store: &LocalStore,
    input: &mut dyn Read,
    output: &mut dyn Write,
    opts: ServeOptions,
    builds: &dyn Builds,
) -> Result<(), ServeError> {
    serve_with(store, input, output, opts, builds, &|_| {})
}

/// [`serve`], telling `in_command` when a command starts (`true`) and ends
/// (`false`): a transport can bound how long a client may stall inside one
/// (holding locks) while leaving idle time between commands free.
pub fn serve_with(
    store: &LocalStore,
    input: &mut dyn Read,
    output: &mut dyn Write,
    opts: ServeOptions,
    builds: &dyn Builds,
    in_command: &dyn Fn(bool),
) -> Result<(), ServeError> {
    let mut r = BufReader::with_capacity(1 << 16, input);
    let mut w = BufWriter::with_capacity(1 << 16, output);
    let magic = read_u64(&mut r)?;
    if magic != MAGIC_1 {
        return Err(ServeError::Magic(magic));
    }
    let wr = |e| ServeError::Write(e);
    wire::write_u64(&mut w, MAGIC_2).map_err(wr)?;
    wire::write_u64(&mut w, PROTOCOL_VERSION).map_err(wr)?;
    w.flush().map_err(wr)?;
    let client = read_u64(&mut r)?;
    if super::major(client) != 0x200 {
        return Err(ServeError::Version(client));
    }
    let mut session = Session {
        store,
        opts,
        builds,
        client,
    };
    loop {
        let mut first = [0u8; 8];
        // A clean end is the client closing before a command.
        if !read_full_or_eof(&mut r, &mut first)? {
            return Ok(());
        }
        in_command(true);
        let n = u64::from_le_bytes(first);
        let cmd = Command::from_u64(n).ok_or(ServeError::UnknownCommand(n))?;
        tracing::debug!(?cmd, "serve command");
        session.command(cmd, &mut MessageLimit::new(&mut r), &mut w)?;
        w.flush().map_err(wr)?;
        in_command(false);
    }
}

/// Fills `buf`; `false` if the stream ended before its first byte.
fn read_full_or_eof(r: &mut dyn Read, buf: &mut [u8]) -> Result<bool, WireError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

struct Session<'a> {
    store: &'a LocalStore,
    opts: ServeOptions,
    builds: &'a dyn Builds,
    client: u64,
}

impl Session<'_> {
    fn command(
        &mut self,
        cmd: Command,
        r: &mut MessageLimit<'_>,
        w: &mut dyn Write,
    ) -> Result<(), ServeError> {
        let wr = ServeError::Write;
        match cmd {
            Command::QueryValidPaths => {
                let lock = read_bool(r)?;
                let substitute = read_bool(r)?;
                let paths = self.paths(r, "queried path")?;
                if substitute && self.opts.write {
                    let mut missing = Vec::new();
                    for p in &paths {
                        if !self.is_valid(p)? {
                            missing.push(p.clone());
                        }
                    }
                    if !missing.is_empty() {
                        self.builds.substitute(&missing);
                    }
                }
                let mut valid = Vec::new();
                for p in &paths {
                    if lock && self.opts.write {
                        self.store
                            .add_temp_root(p)
                            .map_err(self.store_err("add a temporary root"))?;
                    }
                    if self.is_valid(p)? {
                        valid.push(self.store.print_path(p));
                    }
                }
                wire::write_strings(w, valid.iter().map(String::as_str)).map_err(wr)
            }
            Command::QueryPathInfos => {
                let paths = self.paths(r, "queried path")?;
                for p in &paths {
                    let Some(info) = self
                        .store
                        .path_info(p)
                        .map_err(self.store_err("query path info"))?
                    else {
                        continue;
                    };
                    wire::write_string(w, &self.store.print_path(&info.path)).map_err(wr)?;
                    let deriver = info
                        .deriver
                        .as_ref()
                        .map(|d| self.store.print_path(d))
                        .unwrap_or_default();
                    wire::write_string(w, &deriver).map_err(wr)?;
                    let refs: Vec<String> = info
                        .references
                        .iter()
                        .map(|p| self.store.print_path(p))
                        .collect();
                    wire::write_strings(w, refs.iter().map(String::as_str)).map_err(wr)?;
                    wire::write_u64(w, info.nar_size).map_err(wr)?;
                    wire::write_u64(w, info.nar_size).map_err(wr)?;
                    if super::minor(self.client) >= 4 {
                        wire::write_string(w, &info.nar_hash.to_typed(Encoding::Nix32))
                            .map_err(wr)?;
                        wire::write_string(w, info.ca.as_deref().unwrap_or("")).map_err(wr)?;
                        let sigs: BTreeSet<&str> =
                            info.signatures.iter().map(String::as_str).collect();
                        wire::write_strings(w, sigs.into_iter()).map_err(wr)?;
                    }
                }
                wire::write_string(w, "").map_err(wr)
            }
            Command::DumpStorePath => {
                let p = self.path(&read_string(r)?, "path to dump")?;
                if !self.is_valid(&p)? {
                    return Err(ServeError::BadPath {
                        what: "path to dump",
                        path: self.store.print_path(&p),
                        reason: "not valid in this store".into(),
                    });
                }
                nar_fs::dump_path(&self.store.real_path(&p), &mut *w).map_err(|source| {
                    ServeError::Dump {
                        path: self.store.print_path(&p),
                        source,
                    }
                })?;
                Ok(())
            }
            Command::AddToStoreNar => self.add_to_store_nar(r, w),
            Command::BuildDerivation => {
                if !self.opts.write {
                    return Err(ServeError::NotAllowed("building"));
                }
                let full = read_string(r)?;
                let drv_path = self.path(&full, "derivation")?;
                let drv = read_derivation(r)?;
                let settings = BuildSettings::read(r, self.client)?;
                let res = self.builds.build_derivation(&drv_path, drv, &settings);
                res.write(w, self.client).map_err(wr)
            }
            Command::BuildPaths => {
                if !self.opts.write {
                    return Err(ServeError::NotAllowed("building"));
                }
                let mut drvs = Vec::new();
                for s in read_strings(r)? {
                    // `path!out,dev`: the outputs wanted; we build them all.
                    let base = s.split_once('!').map_or(s.as_str(), |(p, _)| p);
                    drvs.push(self.path(base, "path to build")?);
                }
                let settings = BuildSettings::read(r, self.client)?;
                match self.builds.build_paths(&drvs, &settings) {
                    Ok(()) => wire::write_u64(w, 0).map_err(wr),
                    Err((status, msg)) => {
                        wire::write_u64(w, status as u64).map_err(wr)?;
                        wire::write_string(w, &msg).map_err(wr)
                    }
                }
            }
            Command::QueryClosure => {
                let include_outputs = read_bool(r)?;
                let mut paths = self.paths(r, "path")?;
                if include_outputs {
                    for p in paths.clone() {
                        if p.name().ends_with(".drv") {
                            for (_, out) in self
                                .store
                                .derivation_outputs(&p)
                                .map_err(self.store_err("query derivation outputs"))?
                            {
                                if self.is_valid(&out)? {
                                    paths.insert(out);
                                }
                            }
                        }
                    }
                }
                let closure = self
                    .store
                    .closure(&paths)
                    .map_err(self.store_err("compute a closure"))?;
                let printed: Vec<String> =
                    closure.iter().map(|p| self.store.print_path(p)).collect();
                wire::write_strings(w, printed.iter().map(String::as_str)).map_err(wr)
            }
            Command::ImportPaths | Command::ExportPaths => Err(ServeError::Unsupported(cmd)),
        }
    }

    /// `AddToStoreNar`: a path's registration, then exactly `narSize` bytes of
    /// NAR, checked against the declared hash and size before it is valid.
    fn add_to_store_nar(
        &mut self,
        r: &mut MessageLimit<'_>,
        w: &mut dyn Write,
    ) -> Result<(), ServeError> {
        if !self.opts.write {
            return Err(ServeError::NotAllowed("importing paths"));
        }
        let path = self.path(&read_string(r)?, "path to add")?;
        let deriver = read_string(r)?;
        let hash_text = read_string(r)?;
        let nar_hash = Hash::parse_any(&hash_text, Some(HashAlgo::Sha256)).map_err(|e| {
            ServeError::BadPath {
                what: "NAR hash of",
                path: self.store.print_path(&path),
                reason: format!("{hash_text:?}: {e}"),
            }
        })?;
        let references = self.paths(r, "reference")?;
        let _registration_time = read_u64(r)?;
        let nar_size = read_u64(r)?;
        let _ultimate = read_bool(r)?;
        let signatures = read_strings(r)?;
        let ca = read_string(r)?;
        if nar_size == 0 {
            return Err(ServeError::BadPath {
                what: "path to add",
                path: self.store.print_path(&path),
                reason: "its NAR size is missing (0)".into(),
            });
        }
        let deriver = match deriver.as_str() {
            "" => None,
            d => Some(self.path(d, "deriver")?),
        };
        let expected = NarExpectation {
            path: path.clone(),
            nar_hash,
            nar_size,
            references,
            deriver,
            signatures,
            ca: (!ca.is_empty()).then_some(ca),
        };
        // The NAR is exactly nar_size bytes on the wire: whatever the import
        // leaves unread (the path was valid, or the NAR ended early) is
        // drained so the next command starts where it should.
        let mut nar = r.raw().take(nar_size);
        let imported = self.store.import_nar(&mut nar, expected);
        io::copy(&mut nar, &mut io::sink()).map_err(WireError::Io)?;
        imported.map_err(self.store_err(&format!("add {}", self.store.print_path(&path))))?;
        wire::write_u64(w, 1).map_err(ServeError::Write)
    }

    fn path(&self, s: &str, what: &'static str) -> Result<StorePath, ServeError> {
        self.store.parse_path(s).map_err(|e| ServeError::BadPath {
            what,
            // A hostile path may be megabytes long: the error shows its start.
            path: s.chars().take(200).collect(),
            reason: e.to_string().chars().take(300).collect(),
        })
    }

    fn paths(
        &self,
        r: &mut dyn Read,
        what: &'static str,
    ) -> Result<BTreeSet<StorePath>, ServeError> {
        read_strings(r)?
            .iter()
            .map(|s| self.path(s, what))
            .collect()
    }

    fn is_valid(&self, p: &StorePath) -> Result<bool, ServeError> {
        self.store
            .is_valid(p)
            .map_err(self.store_err("check validity"))
    }

    fn store_err(&self, what: &str) -> impl FnOnce(crate::local::Error) -> ServeError {
        let what = what.to_owned();
        move |source| ServeError::Store {
            what,
            source: Box::new(source),
        }
    }
}
