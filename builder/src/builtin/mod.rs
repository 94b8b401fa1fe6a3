//! Builtin builders: derivations whose builder is `builtin:<name>` are built
//! in-process, without a sandbox or any tool, because they only lay out files
//! from their inputs (a directory tree, a profile, an initramfs).
//!
//! Builders that need code from crates above this one (the initramfs writer of
//! the kernel adapters) register themselves through [`BuiltinBuilder`].

mod deb;
pub mod deb_source;
pub mod fsroot;
pub mod pin_sources;
pub mod pins;
pub mod snapshot;
mod tree;

pub use deb::{unpack_deb, FetchDeb, UnpackDeb};
pub use deb_source::{FetchDebSource, SourceApt};
pub use fsroot::{InputFile, OutputTree, StoreInputs};
pub use tree::{build_tree, TreeBuilder};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a builtin build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    #[error("builtin builder {0:?} is not known")]
    Unknown(String),
    #[error("derivation lacks the {0:?} attribute that builtin:{1} needs")]
    MissingAttr(&'static str, &'static str),
    #[error("bad tree description: {0}")]
    BadSpec(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: provided by both {first} and {second}")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("{0} is not a path inside the store")]
    NotInStore(String),
    #[error("{path} leads to {resolved}, which is not in the derivation's input closure: builtin builders read only their inputs")]
    NotInClosure { path: String, resolved: String },
    #[error("{path}: {why}: builtin builders write only beneath their output and never follow a symlink there")]
    NotBeneath { path: PathBuf, why: &'static str },
    #[error("bad input path {path}: {why}")]
    BadInput { path: String, why: String },
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> BuiltinError + 'a {
    move |source| BuiltinError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What a builtin builder is given.
pub struct BuiltinContext<'a> {
    /// The derivation's environment (its attributes).
    pub env: &'a BTreeMap<String, String>,
    /// Where each output must be created (physical paths), by output name.
    /// Builtins write them only through [`BuiltinContext::output`].
    pub outputs: &'a BTreeMap<String, PathBuf>,
    /// The only files a builtin may read: its derivation's input closure.
    pub inputs: &'a StoreInputs,
}

impl BuiltinContext<'_> {
    pub fn attr(&self, name: &'static str, builder: &'static str) -> Result<&str, BuiltinError> {
        self.env
            .get(name)
            .map(String::as_str)
            .ok_or(BuiltinError::MissingAttr(name, builder))
    }

    /// Write access beneath the output `out` (which does not exist yet).
    pub fn out(&self) -> Result<OutputTree, BuiltinError> {
        self.output("out")
    }

    /// Write access beneath the output `name` (which does not exist yet).
    pub fn output(&self, name: &str) -> Result<OutputTree, BuiltinError> {
        let path = self
            .outputs
            .get(name)
            .ok_or(BuiltinError::MissingAttr("out", "output"))?;
        OutputTree::new(path)
    }

    /// Opens a logical store path of the input closure for reading.
    pub fn open(&self, logical: &str) -> Result<InputFile, BuiltinError> {
        self.inputs.open(logical)
    }

    /// Where a logical store path of the input closure is, symlinks resolved
    /// inside the store and checked (see [`StoreInputs::open`]).
    pub fn resolve(&self, logical: &str) -> Result<PathBuf, BuiltinError> {
        self.inputs.resolve(logical)
    }
}

/// A builder run in-process for `builtin:<name>`.
pub trait BuiltinBuilder: Send + Sync {
    /// The part after `builtin:`.
    fn name(&self) -> &'static str;
    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError>;
}

/// The builtin builders known to a build, by name.
#[derive(Default)]
pub struct Builtins {
    builders: BTreeMap<&'static str, Box<dyn BuiltinBuilder>>,
}

impl Builtins {
    /// The builders this crate provides (`b8g-tree`, `b8g-fetch-deb`,
    /// `b8g-fetch-deb-source`, `b8g-unpack-deb`).
    pub fn standard() -> Self {
        let mut b = Builtins::default();
        b.register(Box::new(TreeBuilder));
        b.register(Box::new(FetchDeb::from_env()));
        b.register(Box::new(UnpackDeb));
        b.register(Box::new(FetchDebSource));
        b
    }

    pub fn register(&mut self, builder: Box<dyn BuiltinBuilder>) {
        self.builders.insert(builder.name(), builder);
    }

    /// The builder for a derivation's `builder` field, when it is `builtin:<known name>`.
    pub fn get(&self, builder: &str) -> Option<&dyn BuiltinBuilder> {
        self.builders
            .get(builder.strip_prefix("builtin:")?)
            .map(|b| b.as_ref())
    }

    pub fn build(&self, builder: &str, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        self.get(builder)
            .ok_or_else(|| BuiltinError::Unknown(builder.to_string()))?
            .build(cx)
    }
}
