//! `b8g system`: system generations — build, switch, boot, test, rollback,
//! list, delete, diff. Thin over `b8g_system::generations`; the
//! live part of a switch is `b8gctl switch` from the new generation, which
//! talks to the running b8g-init.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use b8g_layout::generation::CONTROL_SOCKET;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;
use b8g_system::generations::diff;
use b8g_system::generations::profile::Selection;
use b8g_system::generations::{under_root, Generations};
use clap::Parser;

use super::{system, GlobalArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profiles directory (physical), instead of /b8g/var/profiles under the store root;
    /// boot entries then go to its sibling `boot`.
    #[arg(long, global = true, value_name = "DIR")]
    profile: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Build a system configuration (like `b8g build`), without touching the profile.
    Build(system::BuildArgs),
    /// Make TARGET the default generation and activate it now.
    Switch(Target),
    /// Make TARGET the default generation from the next boot on; do not touch the running system.
    Boot(Target),
    /// Activate TARGET now without making it the default (the next boot forgets it).
    Test(Target),
    /// Make the previous generation the default and activate it.
    Rollback {
        /// Only change the default generation (for the next boot).
        #[arg(long)]
        no_activate: bool,
    },
    /// List generations with their boot state.
    ListGenerations {
        #[arg(long)]
        json: bool,
    },
    /// Delete generations: numbers, `+K` (keep the newest K), or `older-than Nd`.
    /// The default, the booted and the running generation are never deleted; run `b8g store gc` afterwards.
    DeleteGenerations {
        #[arg(required = true, num_args = 1..)]
        which: Vec<String>,
    },
    /// Components added, removed and changed between two generations (numbers or toplevel paths).
    Diff {
        a: String,
        b: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct Target {
    /// A system toplevel in the store, a generation number, or a configuration file to build.
    target: String,
    /// With a configuration file: options for the build (`b8g build --help`), after `--`.
    #[arg(last = true)]
    build_args: Vec<String>,
}

/// `BuildArgs` parsed from words, to build a configuration named on the command line.
#[derive(Debug, Parser)]
struct BuildOnly {
    #[command(flatten)]
    args: system::BuildArgs,
}

fn generations(global: &GlobalArgs, args: &Args) -> Generations {
    Generations::new(global.root.as_deref(), args.profile.as_deref())
}

/// Resolves a generation number or store path (or a path through a link to one) to a store path.
fn resolve(store: &LocalStore, gens: &Generations, what: &str) -> Result<StorePath> {
    if let Ok(n) = what.parse::<u32>() {
        let top = gens.profile.toplevel(n)?;
        return Ok(store.parse_path(&top)?);
    }
    store
        .resolve_arg(what)
        .with_context(|| format!("{what} is not a generation number or a store path"))
}

/// A generation number or toplevel (a directory in the store), or a
/// configuration file (any regular file), built first.
fn target_path(
    global: &GlobalArgs,
    store: &LocalStore,
    gens: &Generations,
    t: &Target,
) -> Result<StorePath> {
    let is_config = t.target.parse::<u32>().is_err() && Path::new(&t.target).is_file();
    if !is_config {
        if !t.build_args.is_empty() {
            bail!(
                "build options after `--` need a configuration file, not {}",
                t.target
            );
        }
        return resolve(store, gens, &t.target);
    }
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let link = scratch.path().join("result");
    // The configuration is the first FILE, so that a file among the build
    // options is the one named as extra.
    let mut words = vec!["build".to_string(), "-o".into(), link.display().to_string()];
    words.push(t.target.clone());
    words.extend(t.build_args.iter().cloned());
    let b = BuildOnly::try_parse_from(&words)?;
    b.args.one_file("building a generation")?;
    if system::exec_build(global, b.args)? != ExitCode::SUCCESS {
        bail!("cannot build {}", t.target);
    }
    let out = resolve(store, gens, &link.display().to_string())?;
    // The generation link becomes the root; the temporary result link goes away with `scratch`.
    Ok(out)
}

/// The b8gctl beside the generation's b8g-init.
fn b8gctl_of(global: &GlobalArgs, store: &LocalStore, top: &StorePath) -> Result<PathBuf> {
    let init = store.real_path(top).join("init");
    let target = std::fs::read_link(&init)
        .with_context(|| format!("{} is not a link to b8g-init", init.display()))?;
    let dir = target.parent().context("init link has no directory")?;
    Ok(under_root(
        global.root.as_deref(),
        &dir.join("b8gctl").to_string_lossy(),
    ))
}

/// Activates `top` on the running system: `b8gctl switch TOPLEVEL` from the new generation.
fn activate(global: &GlobalArgs, store: &LocalStore, top: &StorePath) -> Result<()> {
    let ctl = b8gctl_of(global, store, top)?;
    let status = Command::new(&ctl)
        .arg("switch")
        .arg(store.print_path(top))
        .status()
        .with_context(|| format!("cannot run {}", ctl.display()))?;
    if !status.success() {
        bail!("activation of {} failed ({status})", store.print_path(top));
    }
    Ok(())
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let gens = generations(global, &args);
    let command = match args.command {
        Cmd::Build(b) => return system::exec_build(global, b),
        other => other,
    };
    // Activating needs a running b8g-init; find out before the profile changes.
    let activates = matches!(
        command,
        Cmd::Switch(_) | Cmd::Test(_) | Cmd::Rollback { no_activate: false }
    );
    if activates {
        if global.root.is_some() {
            bail!(
                "cannot activate a system under --root: use `b8g system boot` (or `rollback \
                 --no-activate`) to change what the next boot of that tree starts"
            );
        }
        if !Path::new(CONTROL_SOCKET).exists() {
            bail!(
                "b8g-init is not running here (no {CONTROL_SOCKET}), so nothing was changed: \
                 use `b8g system boot` to make it the default for the next boot"
            );
        }
    }
    let store = global.open_store()?;
    match &command {
        Cmd::Build(_) => unreachable!("handled above"),
        Cmd::Switch(t) | Cmd::Boot(t) => {
            let top = target_path(global, &store, &gens, t)?;
            let n = gens.install(&store, &top, true)?;
            eprintln!("generation {n}: {}", store.print_path(&top));
            if matches!(command, Cmd::Switch(_)) {
                activate(global, &store, &top)?;
            }
        }
        Cmd::Test(t) => {
            let top = target_path(global, &store, &gens, t)?;
            activate(global, &store, &top)?;
        }
        Cmd::Rollback { no_activate } => {
            let (from, to) = gens.rollback()?;
            eprintln!("rolled back from generation {from} to {to}");
            if !no_activate {
                let top = store.parse_path(&gens.profile.toplevel(to)?)?;
                activate(global, &store, &top)?;
            }
        }
        Cmd::ListGenerations { json } => {
            let list = gens.list()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for g in list {
                    let state = match &g.entry {
                        None => "no boot entry".to_string(),
                        Some(e) if e.good => "good".to_string(),
                        Some(e) if e.tries == 0 => format!("failed: {}", e.reason),
                        Some(e) if !e.reason.is_empty() => {
                            format!("{} tries left, last failure: {}", e.tries, e.reason)
                        }
                        Some(e) => format!("new, {} tries left", e.tries),
                    };
                    let skipped = g
                        .skipped
                        .map(|r| format!(" (skipped at the last boot: {r})"))
                        .unwrap_or_default();
                    println!(
                        "{:>4}{}{}{} {} {state}{skipped}",
                        g.generation.number,
                        if g.default { " default" } else { "" },
                        if g.booted { " booted" } else { "" },
                        if g.running { " running" } else { "" },
                        g.generation.toplevel,
                    );
                }
            }
        }
        Cmd::DeleteGenerations { which } => {
            let joined = which.join(" ");
            let sels: Vec<Selection> = if joined.starts_with("older-than") {
                vec![joined.parse()?]
            } else {
                which.iter().map(|w| w.parse()).collect::<Result<_, _>>()?
            };
            let mut deleted = Vec::new();
            for s in &sels {
                deleted.extend(gens.delete(s, &[])?);
            }
            if deleted.is_empty() {
                eprintln!("no generation deleted");
            } else {
                let list: Vec<String> = deleted.iter().map(u32::to_string).collect();
                eprintln!(
                    "deleted generations {}; run `b8g store gc` to free their closures",
                    list.join(", ")
                );
            }
        }
        Cmd::Diff { a, b, json } => {
            let pa = resolve(&store, &gens, a)?;
            let pb = resolve(&store, &gens, b)?;
            let d = diff::diff(&store, &pa, &pb)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print_diff(&d);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn print_diff(d: &diff::ClosureDiff) {
    for c in d.changes() {
        println!("{}", c.line());
    }
    println!(
        "closure: {} → {} ({} added, {} removed, {} changed)",
        human(d.size_before),
        human(d.size_after),
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    );
}
