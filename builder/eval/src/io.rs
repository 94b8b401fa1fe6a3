//! The evaluator's view of the outside world: files (`EvalIo`) and the store
//! (`EvalHost`). The evaluator never touches either directly, so it can run
//! against the real filesystem and store (see b8g-builder's glue) or against
//! nothing at all in pure tests.

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

/// Why the host could not do what the language asked of the store; shown
/// to the user as the evaluation error's message.
#[derive(Debug)]
pub struct HostError(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// What the language itself needs of the store: its directory, and copying
/// a source path when a path is interpolated into a string. The builtins
/// that make store objects (`derivationStrict`, `toFile`, `path`, the
/// fetchers) are not here: whoever owns the store registers them onto the
/// evaluator ([`crate::Evaluator::with_builtins`]) and reaches its own state
/// through [`EvalHost::as_any_mut`].
pub trait EvalHost: std::any::Any {
    fn store_dir(&self) -> String;
    /// `"${./dir}"`: adds `path` (NAR-hashed) under `name`; returns the store path.
    fn copy_path(&mut self, path: &str, name: &str) -> Result<String, HostError>;
    /// The host itself, for the builtins registered with it.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// A host without a store: copying fails with a clear message. Used for
/// pure evaluation (like `--store dummy://`).
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
    fn copy_path(&mut self, path: &str, _: &str) -> Result<String, HostError> {
        Err(HostError(
            format!("cannot copy '{path}' to the store: no store is available").into(),
        ))
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
