//! `b8g eval` and `b8g instantiate`: evaluate Nix expressions with b8g-eval.
//!
//! `eval` prints the value as `nix-instantiate --eval` does (`--strict`,
//! `--json`); it computes store paths without writing to the store, as Nix's
//! read-only evaluation does. `instantiate` writes the `.drv` files of the
//! selected derivations into the store and prints their paths.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use b8g_builder::glue::{parallel, EvalSession, SessionError};
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
    /// Select an attribute of the result (`a.b.0.c`). Several are evaluated
    /// on all cores (at most `B8G_EVAL_THREADS`), one evaluator per thread, and
    /// printed in order, as one thread prints them; a lazy `eval` (without
    /// `--strict` or `--json`) stays on one thread.
    #[arg(short = 'A', long = "attr", value_name = "ATTR")]
    attrs: Vec<String>,
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

/// Evaluates the source to each selected value (`-A`, or the whole value)
/// and hands it to `finish`, whose results go to `emit` in order. Several
/// are evaluated on up to `threads` threads with an evaluator each
/// ([`parallel::run_jobs`]), the output being one thread's. Evaluation errors
/// are printed as Nix prints them; returns whether all went well.
fn evaluate<T: Send + 'static>(
    src: Source,
    session: impl Fn() -> Result<EvalSession>,
    threads: usize,
    finish: impl Fn(&mut Evaluator, Value) -> EvalResult<T> + Send + Sync + 'static,
    mut emit: impl FnMut(T) + Send + 'static,
) -> Result<bool> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let search_path = src.auto.search_path();
    let make_session = || session().map(|s| s.search_path(search_path.clone()).base_dir(&cwd));
    let args = src.auto.args();
    let attrs: Vec<Option<String>> = if src.attrs.is_empty() {
        vec![None]
    } else {
        src.attrs.iter().cloned().map(Some).collect()
    };
    let (file, expr) = (src.file, src.expr);
    let failure = parallel::run_jobs(
        make_session,
        attrs.len(),
        threads,
        move |ev, cwd, root: &mut Option<(Value, b8g_eval::Attrs)>, i| {
            // The source is evaluated once per evaluator, as Nix evaluates it once;
            // the arguments first, as Nix parses them first.
            let (v, auto) = match root {
                Some(r) => r.clone(),
                None => {
                    let auto = args.attrs(ev, cwd)?;
                    let v = match &expr {
                        Some(e) => ev.eval_str(e, cwd)?,
                        None => {
                            let f = file.clone().unwrap_or_else(|| PathBuf::from("default.nix"));
                            ev.eval_file(&PathBuf::from(cwd).join(f).to_string_lossy())?
                        }
                    };
                    *root = Some((v.clone(), auto.clone()));
                    (v, auto)
                }
            };
            let v = b8g_builder::glue::AutoArgs::apply_with(ev, v, attrs[i].as_deref(), &auto)?;
            finish(ev, v)
        },
        move |t| {
            emit(t);
            ControlFlow::Continue(())
        },
    )?;
    match failure {
        None => Ok(true),
        Some(SessionError::Eval { message, .. }) => {
            eprintln!("{}", super::ansi::for_stderr(&message));
            Ok(false)
        }
        Some(e) => Err(e.into()),
    }
}

pub fn exec_eval(global: &GlobalArgs, args: EvalArgs) -> Result<ExitCode> {
    let store_dir = store_dir(global)?;
    let mode = if args.json {
        OutputMode::Json
    } else if args.strict {
        OutputMode::Strict
    } else {
        OutputMode::Lazy
    };
    // A lazily printed value shows what was forced before it: one thread.
    let threads = match mode {
        OutputMode::Lazy => 1,
        _ => parallel::default_threads(),
    };
    let ok = evaluate(
        args.source,
        || Ok(EvalSession::dry_run(store_dir.clone())),
        threads,
        move |ev, v| value_to_text(ev, v, mode),
        |text| println!("{text}"),
    )?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn exec_instantiate(global: &GlobalArgs, args: InstantiateArgs) -> Result<ExitCode> {
    let dry_run = args.dry_run;
    let session = || -> Result<EvalSession> {
        Ok(if dry_run {
            EvalSession::dry_run(store_dir(global)?)
        } else {
            EvalSession::writing(open_store(global)?)
        })
    };
    let ok = evaluate(
        args.source,
        session,
        parallel::default_threads(),
        derivation_paths,
        |paths| {
            for p in paths {
                println!("{p}");
            }
        },
    )?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
