//! The protocol of `nix-store --serve` (Nix's "legacy SSH store"), which
//! Nix's remote builds (`ssh://` builders), `nix copy` over `ssh://` and
//! Hydra's queue runner speak over an SSH channel. Protocol version 2.7, as
//! Nix 2.8 speaks it.
//!
//! - [`server::serve`] answers a client on a pair of byte streams (the CLI's
//!   `b8g store serve --stdio`); building is delegated to a [`server::Builds`]
//!   the builder crate provides, so this crate stays below it.
//! - [`client::ServeClient`] is the other side.
//! - [`wire`] is the encoding, with bounded reads.
//!
//! Trust follows Nix: a client allowed to write (`--write`) may add paths
//! without signatures and have derivations built whose input-addressed
//! output paths cannot be checked (their input derivations are not sent), so
//! `--write` is for clients as trusted as a Nix `trusted-user`. A NAR sent to
//! us is still checked against the hash and size its client declares.

pub mod client;
pub mod server;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use crate::format::derivation::{Derivation, Output};
use wire::{read_count, read_i64, read_string, read_strings, read_u64, WireError};

/// What the client sends first.
pub const MAGIC_1: u64 = 0x390c_9deb;
/// What the server answers.
pub const MAGIC_2: u64 = 0x5452_eecb;
/// Protocol 2.7 (major in the high byte).
pub const PROTOCOL_VERSION: u64 = (2 << 8) | 7;

/// The minor version of a protocol version word.
pub fn minor(version: u64) -> u64 {
    version & 0xff
}

/// The major version, as Nix compares it (`0x200`).
pub fn major(version: u64) -> u64 {
    version & 0xff00
}

/// The commands, with Nix's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    QueryValidPaths = 1,
    QueryPathInfos = 2,
    DumpStorePath = 3,
    ImportPaths = 4,
    ExportPaths = 5,
    BuildPaths = 6,
    QueryClosure = 7,
    BuildDerivation = 8,
    AddToStoreNar = 9,
}

impl Command {
    /// The command with this number.
    pub fn from_u64(n: u64) -> Option<Command> {
        Some(match n {
            1 => Command::QueryValidPaths,
            2 => Command::QueryPathInfos,
            3 => Command::DumpStorePath,
            4 => Command::ImportPaths,
            5 => Command::ExportPaths,
            6 => Command::BuildPaths,
            7 => Command::QueryClosure,
            8 => Command::BuildDerivation,
            9 => Command::AddToStoreNar,
            _ => return None,
        })
    }
}

/// The build settings a client sends with each build command. Which fields
/// travel depends on the peer's minor version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSettings {
    /// Seconds without output before the build is killed (0: no limit).
    pub max_silent_time: u64,
    /// Seconds the build may take (0: no limit).
    pub build_timeout: u64,
    /// Bytes of log before the build is killed (0: no limit); minor ≥ 2.
    pub max_log_size: u64,
    /// Extra rounds to check determinism; minor ≥ 3.
    pub build_repeat: u64,
    /// Whether differing rounds fail the build; minor ≥ 3.
    pub enforce_determinism: bool,
    /// Keep the build directory of a failed build; minor ≥ 7.
    pub keep_failed: bool,
}

impl BuildSettings {
    /// Reads the settings as a client of version `peer` sends them.
    pub fn read(r: &mut dyn Read, peer: u64) -> Result<BuildSettings, WireError> {
        let mut s = BuildSettings {
            max_silent_time: read_u64(r)?,
            build_timeout: read_u64(r)?,
            ..BuildSettings::default()
        };
        if minor(peer) >= 2 {
            s.max_log_size = read_u64(r)?;
        }
        if minor(peer) >= 3 {
            s.build_repeat = read_u64(r)?;
            s.enforce_determinism = wire::read_bool(r)?;
        }
        if minor(peer) >= 7 {
            s.keep_failed = wire::read_bool(r)?;
        }
        Ok(s)
    }

    /// Writes the settings for a server of version `peer`.
    pub fn write(&self, w: &mut dyn Write, peer: u64) -> io::Result<()> {
        wire::write_u64(w, self.max_silent_time)?;
        wire::write_u64(w, self.build_timeout)?;
        if minor(peer) >= 2 {
            wire::write_u64(w, self.max_log_size)?;
        }
        if minor(peer) >= 3 {
            wire::write_u64(w, self.build_repeat)?;
            wire::write_bool(w, self.enforce_determinism)?;
        }
        if minor(peer) >= 7 {
            wire::write_bool(w, self.keep_failed)?;
        }
        Ok(())
    }
}

/// A build's outcome, with Nix's `BuildResult::Status` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Built = 0,
    Substituted = 1,
    AlreadyValid = 2,
    PermanentFailure = 3,
    InputRejected = 4,
    OutputRejected = 5,
    TransientFailure = 6,
    CachedFailure = 7,
    TimedOut = 8,
    MiscFailure = 9,
    DependencyFailed = 10,
    LogLimitExceeded = 11,
    NotDeterministic = 12,
    ResolvesToAlreadyValid = 13,
    NoSubstituters = 14,
}

impl BuildStatus {
    /// The status with this number; unknown ones are a misc failure.
    pub fn from_u64(n: u64) -> BuildStatus {
        use BuildStatus::*;
        [
            Built,
            Substituted,
            AlreadyValid,
            PermanentFailure,
            InputRejected,
            OutputRejected,
            TransientFailure,
            CachedFailure,
            TimedOut,
            MiscFailure,
            DependencyFailed,
            LogLimitExceeded,
            NotDeterministic,
            ResolvesToAlreadyValid,
            NoSubstituters,
        ]
        .get(n as usize)
        .copied()
        .unwrap_or(MiscFailure)
    }

    /// Whether the outputs exist afterwards.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            BuildStatus::Built
                | BuildStatus::Substituted
                | BuildStatus::AlreadyValid
                | BuildStatus::ResolvesToAlreadyValid
        )
    }
}

/// The answer to a build command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The outcome.
    pub status: BuildStatus,
    /// Why it failed (empty on success).
    pub error_msg: String,
    /// How many times the derivation was built (minor ≥ 3).
    pub times_built: u64,
    /// Whether rounds differed (minor ≥ 3).
    pub is_non_deterministic: bool,
    /// Seconds since the epoch (minor ≥ 3).
    pub start_time: i64,
    /// Seconds since the epoch (minor ≥ 3).
    pub stop_time: i64,
    /// Realisations of content-addressed outputs, `DrvOutput` id to its JSON
    /// (minor ≥ 6); empty for input-addressed and fixed-output derivations,
    /// whose clients do not read them.
    pub built_outputs: BTreeMap<String, String>,
}

impl BuildResult {
    /// A failure with this status and message.
    pub fn failure(status: BuildStatus, error_msg: impl Into<String>) -> BuildResult {
        BuildResult {
            status,
            error_msg: error_msg.into(),
            times_built: 0,
            is_non_deterministic: false,
            start_time: 0,
            stop_time: 0,
            built_outputs: BTreeMap::new(),
        }
    }

    /// Writes it as a server does for a client of version `peer`.
    pub fn write(&self, w: &mut dyn Write, peer: u64) -> io::Result<()> {
        wire::write_u64(w, self.status as u64)?;
        wire::write_string(w, &self.error_msg)?;
        if minor(peer) >= 3 {
            wire::write_u64(w, self.times_built)?;
            wire::write_bool(w, self.is_non_deterministic)?;
            wire::write_u64(w, self.start_time as u64)?;
            wire::write_u64(w, self.stop_time as u64)?;
        }
        // Nix 2.8's server tests `GET_PROTOCOL_MINOR(clientVersion >= 6)`, which
        // is true for every client; its clients read the map from minor 6 on.
        if minor(peer) >= 6 {
            wire::write_u64(w, self.built_outputs.len() as u64)?;
            for (k, v) in &self.built_outputs {
                wire::write_string(w, k)?;
                wire::write_string(w, v)?;
            }
        }
        Ok(())
    }

    /// Reads it as a client of a server of version `peer`.
    pub fn read(r: &mut dyn Read, peer: u64) -> Result<BuildResult, WireError> {
        let status = BuildStatus::from_u64(read_u64(r)?);
        let mut res = BuildResult::failure(status, read_string(r)?);
        if minor(peer) >= 3 {
            res.times_built = read_u64(r)?;
            res.is_non_deterministic = wire::read_bool(r)?;
            res.start_time = read_i64(r, "start time")?;
            res.stop_time = read_i64(r, "stop time")?;
        }
        if minor(peer) >= 6 {
            let n = read_count(r)?;
            for _ in 0..n {
                let k = read_string(r)?;
                res.built_outputs.insert(k, read_string(r)?);
            }
        }
        Ok(res)
    }
}

/// Reads a derivation as `BuildDerivation` sends it (Nix's `BasicDerivation`:
/// no input derivations; their outputs are among the input sources).
pub fn read_derivation(r: &mut dyn Read) -> Result<Derivation, WireError> {
    let mut drv = Derivation::default();
    let n = read_count(r)?;
    for _ in 0..n {
        let name = read_string(r)?;
        let output = Output {
            path: read_string(r)?,
            hash_algo: read_string(r)?,
            hash: read_string(r)?,
        };
        drv.outputs.insert(name, output);
    }
    drv.input_srcs = read_strings(r)?.into_iter().collect();
    drv.system = read_string(r)?;
    drv.builder = read_string(r)?;
    drv.args = read_strings(r)?;
    let n = read_count(r)?;
    for _ in 0..n {
        let k = read_string(r)?;
        drv.env.insert(k, read_string(r)?);
    }
    Ok(drv)
}

/// Writes a derivation as `BuildDerivation` sends it: its input derivations
/// are left out (the caller puts their outputs into `input_srcs`).
pub fn write_derivation(w: &mut dyn Write, drv: &Derivation) -> io::Result<()> {
    wire::write_u64(w, drv.outputs.len() as u64)?;
    for (name, out) in &drv.outputs {
        wire::write_string(w, name)?;
        wire::write_string(w, &out.path)?;
        wire::write_string(w, &out.hash_algo)?;
        wire::write_string(w, &out.hash)?;
    }
    wire::write_strings(w, drv.input_srcs.iter().map(String::as_str))?;
    wire::write_string(w, &drv.system)?;
    wire::write_string(w, &drv.builder)?;
    wire::write_strings(w, drv.args.iter().map(String::as_str))?;
    wire::write_u64(w, drv.env.len() as u64)?;
    for (k, v) in &drv.env {
        wire::write_string(w, k)?;
        wire::write_string(w, v)?;
    }
    Ok(())
}

/// A path's registration as `QueryPathInfos` carries it (printed paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePathInfo {
    /// The store path, printed.
    pub path: String,
    /// The deriver, printed, or empty.
    pub deriver: String,
    /// References, printed.
    pub references: BTreeSet<String>,
    /// What a download would cost (Nix sends the NAR size).
    pub download_size: u64,
    /// NAR size.
    pub nar_size: u64,
    /// `sha256:<nix32>`.
    pub nar_hash: String,
    /// Content address or empty.
    pub ca: String,
    /// Signatures.
    pub sigs: BTreeSet<String>,
}

#[cfg(test)]
mod tests;
