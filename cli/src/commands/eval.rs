//! `b8g eval` and `b8g instantiate`: evaluate Nix expressions with b8g-eval.
//!
//! `eval` prints the value as `nix-instantiate --eval` does (`--strict`,
//! `--json`); it computes store paths without writing to the store, as Nix's
//! read-only evaluation does. `instantiate` writes the `.drv` files of the
//! selected derivations into the store and prints their paths.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use b8g_builder::glue::{EvalSession, SessionError};
use b8g_eval::{derivation_paths, value_to_text, EvalResult, Evaluator, OutputMode, Value};
use b8g_store::format::store_path::StoreDir;
use b8g_store::local::LocalStore;

use super::auto_args::AutoArgs;
use super::GlobalArgs;

/// What to evaluate: shared by `eval` and `instantiate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Source {
    /// File to evaluate (default: ./default.nix).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Evaluate this expression instead of a file.
    #[arg(
        short = 'E',
        long = "expr",
        value_name = "EXPR",
        conflicts_with = "file"
    )]
    expr: Option<String>,
    /// Select an attribute of the result (`a.b.0.c`).
    #[arg(short = 'A', long = "attr", value_name = "ATTR")]
    attr: Option<String>,
    #[command(flatten)]
    auto: AutoArgs,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    source: Source,
    /// Evaluate the result completely.
    #[arg(long)]
    strict: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct InstantiateArgs {
    #[command(flatten)]
    source: Source,
    /// Compute the derivation paths without writing to the store.
    #[arg(long)]
    dry_run: bool,
}

fn store_dir(global: &GlobalArgs) -> Result<StoreDir> {
    match &global.store_dir {
        Some(d) => StoreDir::new(d).with_context(|| format!("invalid store directory {d:?}")),
        None => Ok(StoreDir::default()),
    }
}

fn open_store(global: &GlobalArgs) -> Result<LocalStore> {
    global.open_store()
}

/// Evaluates the source to the selected value and hands it to `finish`, on a
/// thread with a big stack. Evaluation errors are printed as Nix prints them.
fn evaluate<T: Send + 'static>(
    src: Source,
    session: EvalSession,
    finish: impl FnOnce(&mut Evaluator, Value) -> EvalResult<T> + Send + 'static,
) -> Result<Option<T>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let session = session.search_path(src.auto.search_path()).base_dir(&cwd);
    let args = src.auto.args();
    let r = session.run(move |ev, cwd| {
        let v = match &src.expr {
            Some(e) => ev.eval_str(e, cwd)?,
            None => {
                let f = src
                    .file
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("default.nix"));
                let f = if f.is_absolute() {
                    f
                } else {
                    PathBuf::from(cwd).join(f)
                };
                ev.eval_file(&f.to_string_lossy())?
            }
        };
        let v = args.apply(ev, v, src.attr.as_deref(), cwd)?;
        finish(ev, v)
    });
    match r {
        Ok(t) => Ok(Some(t)),
        Err(SessionError::Eval { message, .. }) => {
            eprintln!("{}", super::ansi::for_stderr(&message));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn exec_eval(global: &GlobalArgs, args: EvalArgs) -> Result<ExitCode> {
    let session = EvalSession::dry_run(store_dir(global)?);
    let mode = if args.json {
        OutputMode::Json
    } else if args.strict {
        OutputMode::Strict
    } else {
        OutputMode::Lazy
    };
    match evaluate(args.source, session, move |ev, v| {
        value_to_text(ev, v, mode)
    })? {
        Some(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::FAILURE),
    }
}

pub fn exec_instantiate(global: &GlobalArgs, args: InstantiateArgs) -> Result<ExitCode> {
    let session = if args.dry_run {
        EvalSession::dry_run(store_dir(global)?)
    } else {
        EvalSession::writing(open_store(global)?)
    };
    match evaluate(args.source, session, derivation_paths)? {
        Some(paths) => {
            for p in paths {
                println!("{p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::FAILURE),
    }
}
