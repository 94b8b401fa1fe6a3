//! Building a system from a configuration file: evaluate it with the system
//! modules of `recipes/`, write the derivations, realise them, and (when asked)
//! write a root image of the closure.
//!
//! This is the library behind `b8g-build`; it does no argument parsing and no
//! printing beyond the progress reporter it is handed.

use b8g_builder::glue::{EvalSession, SessionError};
use b8g_builder::realise::{self, realise, Plan, RealiseError, RealiseOptions};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::Progress;
use b8g_kernel_adapters::builtins;
use b8g_kernel_adapters::linux::image::{Format, ImageError, RootImage};
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{LocalStore, StoreConfig};
use std::path::{Path, PathBuf};

/// What to build.
#[derive(Debug, Clone)]
pub struct SystemBuildOptions {
    /// The system configuration: a module such as `images/minimal.nix`.
    pub config: PathBuf,
    /// The `recipes/` directory (lib, modules, pkgs, bootstrap).
    pub recipes: PathBuf,
    /// A directory with `bin/b8g-init` and `bin/b8gctl` (static builds), imported by content.
    /// A directory with b8g's static binaries (`--b8g-bin`, for development);
    /// `None` builds them from source (`recipes/pkgs/b8g`).
    pub b8g_bin: Option<PathBuf>,
    /// Which attribute of `config.system.build` to build (`toplevel`).
    pub attr: String,
    /// Modules (Nix expressions) added to the configuration, such as
    /// [`crate::install::DiskIds::module`].
    pub extra_modules: Vec<String>,
    pub realise: RealiseOptions,
    /// Show evaluation errors with their whole trace (Nix's `--show-trace`).
    pub show_trace: bool,
}

/// Why a system could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SystemBuildError {
    #[error("{0} must be an absolute path without spaces or quotes")]
    BadPath(PathBuf),
    #[error("evaluation failed:\n{0}")]
    Eval(String),
    #[error(
        "`{0}` is not an attribute path of config.system.build (names such as `toplevel` or `vm`)"
    )]
    BadAttr(String),
    #[error("evaluation gave {0} derivations, expected one")]
    NotOneDerivation(usize),
    #[error("cannot start the evaluation thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Store(#[from] b8g_store::local::Error),
    #[error(transparent)]
    Realise(#[from] RealiseError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{0} is a system configuration, and the settings to build a system were not given")]
    NoSystemSettings(PathBuf),
    #[error(
        "{0} is a system configuration, which builds one attribute of config.system.build: \
         give at most one -A"
    )]
    SeveralAttrs(PathBuf),
    #[error("derivation {0} has no `out` output")]
    NoOut(String),
    #[error(
        "{bin} is not in the store under the root, and its content does not hash to its name \
         (it was added there as {added}): pass --b8g-bin a directory outside the store"
    )]
    B8gBinMismatch { bin: PathBuf, added: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `p` as a Nix path expression; paths that would need quoting are refused.
pub(crate) fn nix_path(p: &Path) -> Result<String, SystemBuildError> {
    let s = p.to_string_lossy();
    if !p.is_absolute()
        || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == '$')
    {
        return Err(SystemBuildError::BadPath(p.to_path_buf()));
    }
    Ok(format!("(/. + \"{s}\")"))
}

/// The Nix expression for `config.system.build.<attr>` of a configuration.
pub fn system_expr(opts: &SystemBuildOptions) -> Result<String, SystemBuildError> {
    let recipes = nix_path(&opts.recipes)?;
    // Spliced into the expression and a message: plain attribute names only.
    let plain = |c: &str| {
        c.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && c.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_'-".contains(c))
    };
    if !opts.attr.split('.').all(plain) {
        return Err(SystemBuildError::BadAttr(opts.attr.clone()));
    }
    Ok(format!(
        "let build = (import ({recipes} + \"/eval-config.nix\") {{ modules = [ {config} {extra} ]; \
         pkgs = import ({recipes} + \"/pkgs\") {{ b8gBin = {bin}; }}; }}).config.system.build; in \
         build.{attr} or (throw \"attribute '{attr}' in selection path 'config.system.build.{attr}' \
         not found; config.system.build has: ${{builtins.concatStringsSep \", \" \
         (builtins.attrNames build)}}\")",
        config = nix_path(&opts.config)?,
        extra = opts
            .extra_modules
            .iter()
            .map(|m| format!("({m})"))
            .collect::<Vec<_>>()
            .join(" "),
        bin = b8g_bin_expr(opts)?,
        attr = opts.attr,
    ))
}

/// What the recipes get as `b8gBin`: the directory's path, or `null`.
pub(crate) fn b8g_bin_expr(opts: &SystemBuildOptions) -> Result<String, SystemBuildError> {
    match &opts.b8g_bin {
        Some(bin) => nix_path(bin),
        None => Ok("null".to_owned()),
    }
}

/// Run from a b8g system with `--root MNT`, the running system's b8g-init
/// (`/b8g/store/…-b8g-init`, the default `b8g_bin` there) lies in the store
/// directory, which for a store under MNT means MNT's copy: it is added to that
/// store first, by content and under its own name, so evaluation finds it and
/// the new system carries the same b8g as the one installing it.
fn carry_b8g_bin(store: &LocalStore, bin: &Path) -> Result<(), SystemBuildError> {
    let Ok(path) = store.parse_path(&bin.to_string_lossy()) else {
        return Ok(());
    };
    if store.real_path(&path).exists() || !bin.is_dir() {
        return Ok(());
    }
    let added = store.add_recursive(bin, path.name())?;
    if added != path {
        return Err(SystemBuildError::B8gBinMismatch {
            bin: bin.to_path_buf(),
            added: store.print_path(&added),
        });
    }
    Ok(())
}

/// Evaluates the configuration and writes its derivations; returns the `.drv` path.
pub fn instantiate(
    store: LocalStore,
    opts: &SystemBuildOptions,
) -> Result<String, SystemBuildError> {
    instantiate_with(store, opts, |session| session)
}

/// [`instantiate`] with the evaluation session adjusted by `session` (an
/// interrupt flag, a message sink).
pub fn instantiate_with(
    store: LocalStore,
    opts: &SystemBuildOptions,
    session: impl FnOnce(EvalSession) -> EvalSession,
) -> Result<String, SystemBuildError> {
    if let Some(bin) = &opts.b8g_bin {
        carry_b8g_bin(&store, bin)?;
    }
    let expr = system_expr(opts)?;
    let mut drvs = session(
        EvalSession::writing(store)
            .base_dir(&opts.recipes)
            .throws_without_trace()
            .show_trace(opts.show_trace),
    )
    .instantiate_expr(expr)?;
    if drvs.len() != 1 {
        return Err(SystemBuildError::NotOneDerivation(drvs.len()));
    }
    Ok(drvs.remove(0))
}

/// Builds the configuration's `config.system.build.<attr>` in the store `config`
/// describes; returns the open store and the output path.
pub fn build(
    config: &StoreConfig,
    opts: &SystemBuildOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<(LocalStore, StorePath), SystemBuildError> {
    // The evaluator owns a store handle of its own (it runs on its own thread).
    let drv = instantiate(LocalStore::open(config)?, opts)?;
    realise_out(config, &drv, opts, progress, cancel)
}

/// What building the configuration would do (`b8g-build --dry-run`): its
/// derivations are written to the store, nothing is built or fetched.
pub fn plan(
    config: &StoreConfig,
    opts: &SystemBuildOptions,
) -> Result<(LocalStore, Plan), SystemBuildError> {
    let drv = instantiate(LocalStore::open(config)?, opts)?;
    let store = LocalStore::open(config)?;
    let drv = store.parse_path(&drv)?;
    let plan = realise::plan(&store, &[drv], &opts.realise.substituters)?;
    Ok((store, plan))
}

/// Realises the derivation `drv` (a full store path) with the adapters' builtins;
/// returns the open store and its `out` output.
pub(crate) fn realise_out(
    config: &StoreConfig,
    drv: &str,
    opts: &SystemBuildOptions,
    progress: &dyn Progress,
    cancel: &CancelToken,
) -> Result<(LocalStore, StorePath), SystemBuildError> {
    let store = LocalStore::open(config)?;
    let drv = store.parse_path(drv)?;
    let realised = realise(
        &store,
        std::slice::from_ref(&drv),
        &opts.realise,
        &builtins(),
        progress,
        cancel,
    )?;
    let out = realised
        .outputs
        .get(&drv)
        .and_then(|o| o.get("out"))
        .cloned()
        .ok_or_else(|| SystemBuildError::NoOut(store.print_path(&drv)))?;
    Ok((store, out))
}

/// Writes a root image of `toplevel`'s closure to `out` (scratch space under `work`).
pub fn write_image(
    store: &LocalStore,
    toplevel: &StorePath,
    format: Format,
    work: &Path,
    out: &Path,
) -> Result<(), SystemBuildError> {
    let closure: Vec<String> = store
        .closure([toplevel])?
        .iter()
        .map(|p| store.print_path(p))
        .collect();
    let resolve = |logical: &str| -> Option<PathBuf> {
        store.parse_path(logical).ok().map(|p| store.real_path(&p))
    };
    let free_mib = 64 + closure.len() as u64;
    RootImage {
        store_dir: store.store_dir().as_str(),
        resolve: &resolve,
        closure: &closure,
        toplevel: &store.print_path(toplevel),
        format,
        ext4_free_mib: free_mib,
    }
    .write(work, out)?;
    Ok(())
}

/// How [`options_doc`] renders the option list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsFormat {
    /// Markdown from `recipes/lib`'s documentation generator.
    Markdown,
    /// A JSON list of `{ name, type, description, default?, example?, declarations }`.
    Json,
}

impl From<SessionError> for SystemBuildError {
    fn from(e: SessionError) -> SystemBuildError {
        match e {
            SessionError::Thread(e) => SystemBuildError::Thread(e),
            SessionError::Eval { message, .. } => SystemBuildError::Eval(message),
        }
    }
}

/// The documentation of every visible option of the system modules, plus those
/// declared by `config` when given (a system file with modules of its own).
/// Evaluates without a store: nothing is built or written.
pub fn options_doc(
    recipes: &Path,
    config: Option<&Path>,
    store_dir: b8g_store::format::store_path::StoreDir,
    format: OptionsFormat,
) -> Result<String, SystemBuildError> {
    let r = nix_path(recipes)?;
    let modules = match config {
        Some(c) => nix_path(c)?,
        None => String::new(),
    };
    let render = match format {
        OptionsFormat::Markdown => "lib.optionsMarkdown",
        OptionsFormat::Json => "x: builtins.toJSON (lib.optionsList x)",
    };
    // pkgs without b8gBin: option defaults that need b8g's own binaries show as <error>.
    let expr = format!(
        "let lib = import ({r} + \"/lib\"); \
         sys = import ({r} + \"/eval-config.nix\") {{ modules = [ {modules} ]; pkgs = import ({r} + \"/pkgs\") {{ }}; }}; \
         in ({render}) sys.options"
    );
    let text = EvalSession::dry_run(store_dir)
        .base_dir(recipes)
        .throws_without_trace()
        .run(move |ev, dir| {
            let v = ev.eval_str(&expr, dir)?;
            match ev.force(v)? {
                b8g_eval::Value::Str(s) => Ok(Some(s.s.clone())),
                _ => Ok(None),
            }
        })?;
    text.ok_or_else(|| SystemBuildError::Eval("the option documentation is not a string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_store::format::store_path::StoreDir;

    #[test]
    fn a_b8g_bin_from_the_running_systems_store_is_carried_into_a_rooted_store() {
        let t = tempfile::tempdir().expect("tempdir");
        // The running system's store (logical = physical) and a store under MNT
        // with the same logical directory.
        let logical = t.path().join("store");
        let store_dir = StoreDir::new(&logical.to_string_lossy()).expect("store dir");
        let running = LocalStore::open(&StoreConfig {
            store_dir: store_dir.clone(),
            state_dir: t.path().join("state"),
            root: None,
        })
        .expect("running store");
        let src = t.path().join("bin-src");
        std::fs::create_dir_all(src.join("bin")).expect("bin");
        std::fs::write(src.join("bin/b8g-init"), "init").expect("init");
        let bin = running.add_recursive(&src, "b8g-init").expect("add");
        let bin_dir = running.real_path(&bin);
        let mnt = LocalStore::open(&StoreConfig {
            store_dir,
            state_dir: t.path().join("state"),
            root: Some(t.path().join("mnt")),
        })
        .expect("store under MNT");
        assert!(!mnt.real_path(&bin).exists());
        carry_b8g_bin(&mnt, &bin_dir).expect("carried");
        assert!(mnt.real_path(&bin).join("bin/b8g-init").is_file());
        assert!(mnt.is_valid(&bin).expect("query"));
        // A directory in the store whose content is not what its name says is refused.
        let forged = running
            .real_path(&bin)
            .with_file_name(format!("{}-b8g-init", "0".repeat(32)));
        std::fs::create_dir_all(forged.join("bin")).expect("forged");
        std::fs::write(forged.join("bin/b8g-init"), "other").expect("forged init");
        let e = carry_b8g_bin(&mnt, &forged).expect_err("forged");
        assert!(matches!(e, SystemBuildError::B8gBinMismatch { .. }), "{e}");
        // Outside the store, nothing is done.
        carry_b8g_bin(&mnt, &src).expect("outside the store");
    }
}
