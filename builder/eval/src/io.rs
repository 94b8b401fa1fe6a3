//! The evaluator's view of the outside world: files (`EvalIo`) and the store
//! (`EvalHost`). The evaluator never touches either directly, so it can run
//! against the real filesystem and store (see b8g-builder's glue) or against
//! nothing at all in pure tests.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io;

/// The kind of a directory entry, as `builtins.readDir` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    Unknown,
}

impl FileType {
    pub fn as_nix_str(self) -> &'static str {
        match self {
            FileType::Regular => "regular",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Unknown => "unknown",
        }
    }
}

/// File access for `import`, `readFile`, `readDir`, `pathExists`, `hashFile`.
pub trait EvalIo {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>>;
    fn read_dir(&self, path: &str) -> io::Result<Vec<(String, FileType)>>;
    /// The type of `path` itself, without following a final symlink.
    fn file_type(&self, path: &str) -> io::Result<FileType>;
    fn path_exists(&self, path: &str) -> bool {
        self.file_type(path).is_ok()
    }
}

/// `EvalIo` on the real filesystem.
pub struct StdIo;

impl EvalIo for StdIo {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn read_dir(&self, path: &str) -> io::Result<Vec<(String, FileType)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(path)? {
            let e = e?;
            let ft = e.file_type()?;
            out.push((e.file_name().to_string_lossy().into_owned(), conv(ft)));
        }
        out.sort();
        Ok(out)
    }
    fn file_type(&self, path: &str) -> io::Result<FileType> {
        Ok(conv(std::fs::symlink_metadata(path)?.file_type()))
    }
}

fn conv(ft: std::fs::FileType) -> FileType {
    if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_dir() {
        FileType::Directory
    } else if ft.is_file() {
        FileType::Regular
    } else {
        FileType::Unknown
    }
}

/// How a fixed-output derivation's or added path's content is hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedOutput {
    /// `true` for NAR (recursive) hashing, `false` for flat file hashing.
    pub recursive: bool,
    /// `sha256`, `sha1`, `sha512` or `md5`.
    pub algo: String,
    /// The expected hash, lower-case base16.
    pub hash_hex: String,
}

/// A derivation as the evaluator assembles it, before output paths are known.
/// The host fills each output's path into `env` (empty placeholders are left
/// for it) and writes the `.drv`.
#[derive(Debug, Clone, Default)]
pub struct DrvSpec {
    pub name: String,
    /// Output names in the order given by `outputs`.
    pub outputs: Vec<String>,
    pub fixed: Option<FixedOutput>,
    /// Input derivation path → wanted outputs.
    pub input_drvs: BTreeMap<String, BTreeSet<String>>,
    pub input_srcs: BTreeSet<String>,
    pub platform: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// The written derivation: its path and each output's path.
#[derive(Debug, Clone)]
pub struct DrvOut {
    pub drv_path: String,
    pub outputs: BTreeMap<String, String>,
}

/// A download asked for by `builtins.fetchurl` or `builtins.fetchTarball`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// `file://`, `http://` or `https://`.
    pub url: String,
    /// The name of the store path.
    pub name: String,
    /// Unpack a tarball and add its single top-level entry (hashed as a NAR)
    /// rather than the downloaded file (hashed flat).
    pub unpack: bool,
    /// The declared hash; fetched content that does not match is an error.
    pub expected: Option<FixedOutput>,
}

/// Store operations the language needs. Errors are messages shown to the user.
pub trait EvalHost {
    fn store_dir(&self) -> String;
    /// Copies `path` into the store under `name`; `filter` holds the paths
    /// (absolute, below `path`) to keep, `None` for all. Returns the store path.
    fn add_path(
        &mut self,
        path: &str,
        name: &str,
        recursive: bool,
        filter: Option<&HashSet<String>>,
        expected_sha256_hex: Option<&str>,
    ) -> Result<String, String>;
    /// `builtins.toFile`: a text file with the given references.
    fn add_text(
        &mut self,
        name: &str,
        text: &str,
        refs: &BTreeSet<String>,
    ) -> Result<String, String>;
    /// Computes output paths (hashDerivationModulo), writes the `.drv`.
    fn write_derivation(&mut self, drv: DrvSpec) -> Result<DrvOut, String>;
    /// The store path of a fixed-output content, for `builtins.path` with a hash
    /// and fetchers; `None` if the host cannot compute it.
    fn fixed_output_path(&self, name: &str, fixed: &FixedOutput) -> Result<String, String>;
    /// Fetches at evaluation time, checks the hash, adds the result to the
    /// store and returns its store path.
    fn fetch(&mut self, req: &FetchRequest) -> Result<String, String>;
}

/// A host without a store: every store operation fails with a clear message.
/// Used for pure evaluation (like `--store dummy://`).
pub struct NoStore {
    pub store_dir: String,
}

impl Default for NoStore {
    fn default() -> Self {
        NoStore {
            store_dir: "/nix/store".into(),
        }
    }
}

impl EvalHost for NoStore {
    fn store_dir(&self) -> String {
        self.store_dir.clone()
    }
    fn add_path(
        &mut self,
        path: &str,
        _: &str,
        _: bool,
        _: Option<&HashSet<String>>,
        _: Option<&str>,
    ) -> Result<String, String> {
        Err(format!(
            "cannot copy '{path}' to the store: no store is available"
        ))
    }
    fn add_text(&mut self, name: &str, _: &str, _: &BTreeSet<String>) -> Result<String, String> {
        Err(format!(
            "cannot add '{name}' to the store: no store is available"
        ))
    }
    fn write_derivation(&mut self, drv: DrvSpec) -> Result<DrvOut, String> {
        Err(format!(
            "cannot write derivation '{}': no store is available",
            drv.name
        ))
    }
    fn fixed_output_path(&self, name: &str, _: &FixedOutput) -> Result<String, String> {
        Err(format!(
            "cannot compute the store path of '{name}': no store is available"
        ))
    }
    fn fetch(&mut self, req: &FetchRequest) -> Result<String, String> {
        Err(format!("cannot fetch '{}': no store is available", req.url))
    }
}
