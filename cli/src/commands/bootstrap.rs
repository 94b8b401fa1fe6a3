//! `b8g bootstrap`: the pinned Debian seeds.
//!
//! `b8g bootstrap lock` rewrites `recipes/bootstrap/pins.nix` with the
//! versions and sha256s apt currently offers (run `apt-get update` first);
//! `--only NAME…` narrows it to some pins, `--override FILE` writes the
//! refreshed entries to a local override instead of the committed lock.
//! `--check` only reports where each pin can still be had (store, caches,
//! archive, snapshot service) and exits 1 when some pin has no source left.
//! `b8g bootstrap add-debian NAME…` adds Debian packages to
//! `recipes/debian/lock.json` (`pkgs.debian.<name>`), which `lock` also
//! re-resolves. The work is done by `b8g_builder::builtin::{pins,
//! pin_sources}` and `b8g_builder::debian`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use b8g_builder::builtin::pin_sources::{check_pins, OtherSources, PinSource, PinStatus};
use b8g_builder::builtin::pins::{lock_selected, override_text, parse_pins, AptResolver};
use b8g_builder::builtin::snapshot::DebianSnapshot;
use b8g_builder::debian::{self, apt::AptIndex, DebianLock};

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Regenerate the versions and sha256s of pins.nix from apt, or check them.
    Lock {
        /// The pins file (default: this workspace's recipes/bootstrap/pins.nix).
        #[arg(long, value_name = "FILE")]
        pins: Option<PathBuf>,
        /// Refresh only these pins (attribute or package names).
        #[arg(long, value_name = "NAME", num_args = 1..)]
        only: Vec<String>,
        /// Write the refreshed entries to FILE (a local override of the lock)
        /// instead of rewriting the pins file.
        #[arg(long = "override", value_name = "FILE")]
        override_file: Option<PathBuf>,
        /// Report where each pin can be had; change nothing. Exits 1 when
        /// some pin has no source left.
        #[arg(long, conflicts_with_all = ["only", "override_file", "dry_run"])]
        check: bool,
        /// With --check: print the report as JSON.
        #[arg(long, requires = "check")]
        json: bool,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The Debian packages' lock, re-resolved from its roots unless
        /// `--only` narrows the refresh to seeds (default: this workspace's
        /// recipes/debian/lock.json).
        #[arg(long, value_name = "FILE")]
        debian_lock: Option<PathBuf>,
    },
    /// Report the packages of recipes/debian/lock.json that Debian's archive
    /// no longer serves; with --override, write a lock re-resolved from the
    /// same roots there (or remove it when every package is served).
    CheckDebian {
        /// The lock (default: this workspace's recipes/debian/lock.json).
        #[arg(long, value_name = "FILE")]
        debian_lock: Option<PathBuf>,
        /// Where a refreshed lock goes when packages vanished (a local,
        /// untracked override of the lock).
        #[arg(long = "override", value_name = "FILE")]
        override_file: Option<PathBuf>,
    },
    /// Add Debian binary packages to recipes/debian/lock.json (as
    /// `pkgs.debian.<name>`), with their dependencies, from apt's indices.
    AddDebian {
        /// Binary package names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// The lock (default: this workspace's recipes/debian/lock.json).
        #[arg(long, value_name = "FILE")]
        debian_lock: Option<PathBuf>,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Resolves `roots` into the lock at `path` (created when absent) and
/// writes it, printing what changed.
fn relock_debian(path: &Path, add: &[String], dry_run: bool) -> anyhow::Result<()> {
    let old = if path.exists() {
        DebianLock::read(path)?
    } else {
        DebianLock::new()
    };
    let mut roots = old.roots.clone();
    roots.extend(add.iter().cloned());
    let new = debian::resolve(&roots, &old.ignored, &AptIndex)
        .with_context(|| format!("lock {}", path.display()))?;
    for c in new.changes_from(&old) {
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        println!(
            "debian {}: {} -> {}",
            c.package,
            shown(&c.old),
            shown(&c.new)
        );
    }
    if new == old {
        println!("{} is up to date", path.display());
    } else if dry_run {
        println!("{} would change (--dry-run: not written)", path.display());
    } else {
        new.write(path)?;
        println!(
            "wrote {} ({} packages in {} components)",
            path.display(),
            new.packages.len(),
            new.components.len()
        );
    }
    Ok(())
}

pub fn exec(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Lock {
            pins,
            only,
            override_file,
            check,
            json,
            dry_run,
            debian_lock,
        } => {
            let path = pins.unwrap_or_else(|| workspace_file("recipes/bootstrap/pins.nix"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            if check {
                return check_lock(global, &path, &text, json);
            }
            let debian_lock =
                debian_lock.unwrap_or_else(|| workspace_file("recipes/debian/lock.json"));
            let refresh_debian = only.is_empty() && override_file.is_none();
            let only = (!only.is_empty()).then_some(only.as_slice());
            let (new, changes) = lock_selected(&text, &AptResolver::default(), only)
                .with_context(|| format!("lock {}", path.display()))?;
            for c in &changes {
                println!("{}: {} -> {}", c.name, c.old_version, c.new_version);
            }
            let (target, contents) = match &override_file {
                Some(file) => {
                    let names: Vec<String> = changes.iter().map(|c| c.name.clone()).collect();
                    let header = format!(
                        "Local override of {} (not committed), written by `b8g bootstrap lock \
                         --override`:\nthese pins left Debian's archive and were refreshed to \
                         what it serves now.",
                        path.display()
                    );
                    (file.clone(), override_text(&new, &names, &header)?)
                }
                None => (path.clone(), new),
            };
            let old = std::fs::read_to_string(&target).unwrap_or_default();
            if contents == old {
                println!("{} is up to date", target.display());
            } else if dry_run {
                println!("{} would change (--dry-run: not written)", target.display());
            } else {
                write_atomically(&target, &contents)?;
                println!("wrote {}", target.display());
            }
            if refresh_debian && debian_lock.exists() {
                relock_debian(&debian_lock, &[], dry_run)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::CheckDebian {
            debian_lock,
            override_file,
        } => {
            let path = debian_lock.unwrap_or_else(|| workspace_file("recipes/debian/lock.json"));
            check_debian(&path, override_file.as_deref())
        }
        Sub::AddDebian {
            names,
            debian_lock,
            dry_run,
        } => {
            let path = debian_lock.unwrap_or_else(|| workspace_file("recipes/debian/lock.json"));
            relock_debian(&path, &names, dry_run)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `check-debian`: which packages left the archive, and the override.
fn check_debian(path: &Path, override_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let lock = DebianLock::read(path)?;
    let gone = AptIndex
        .unserved(&lock)
        .with_context(|| format!("check {}", path.display()))?;
    for g in &gone {
        println!("{g}: no longer in Debian's archive");
    }
    match override_file {
        Some(file) if gone.is_empty() => {
            if file.exists() {
                std::fs::remove_file(file).with_context(|| format!("remove {}", file.display()))?;
                println!("every package is served again: removed {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(file) => {
            let new = debian::resolve(&lock.roots, &lock.ignored, &AptIndex)
                .with_context(|| format!("re-resolve {}", path.display()))?;
            new.write(file)?;
            println!(
                "wrote {} (refreshed from the archive; commit it with `b8g bootstrap lock`)",
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        None if gone.is_empty() => {
            println!("every package of {} is served", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => bail!(
            "{} package(s) of {} left Debian's archive; refresh the lock with `b8g bootstrap lock`",
            gone.len(),
            path.display()
        ),
    }
}

fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("nix.tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replace {}", path.display()))
}

/// `lock --check`: every source asked about every pin.
fn check_lock(
    global: &GlobalArgs,
    path: &Path,
    text: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pins = parse_pins(text).with_context(|| format!("parse {}", path.display()))?;
    let config = global.store_config()?;
    // The store is asked only when it exists: a check creates nothing.
    let store = if config.exists() {
        Some(global.open_store()?)
    } else {
        None
    };
    let caches = super::system::configured_substituters(global)?;
    let snapshot = DebianSnapshot::from_env();
    let statuses = check_pins(
        &pins,
        &config.store_dir,
        &AptResolver::default(),
        &OtherSources {
            store: store.as_ref(),
            caches: Some(&caches),
            snapshot: snapshot.as_ref(),
        },
    )
    .with_context(|| format!("check {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        for s in &statuses {
            println!("{}", describe(s));
        }
    }
    let lost: Vec<&str> = statuses
        .iter()
        .filter(|s| s.sources.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    if lost.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else if json {
        Ok(ExitCode::FAILURE)
    } else {
        bail!(
            "{} pin(s) can be had from no source: {}; refresh them with `b8g bootstrap lock --only {}`",
            lost.len(),
            lost.join(", "),
            lost.join(" ")
        )
    }
}

fn describe(s: &PinStatus) -> String {
    let sources: Vec<String> = s
        .sources
        .iter()
        .map(|src| match src {
            PinSource::Store => "store".to_owned(),
            PinSource::Cache { url } => format!("cache {url}"),
            PinSource::Archive => "archive".to_owned(),
            PinSource::Snapshot { url } => format!("snapshot {url}"),
        })
        .collect();
    let offers = s
        .archive_offers
        .as_deref()
        .map(|v| format!(" (the archive now serves {v})"))
        .unwrap_or_default();
    if sources.is_empty() {
        format!("{} {}={}: NO SOURCE{offers}", s.name, s.package, s.version)
    } else if !s.in_archive() {
        format!(
            "{} {}={}: {} — warning: gone from the archive{offers}",
            s.name,
            s.package,
            s.version,
            sources.join(", ")
        )
    } else {
        format!(
            "{} {}={}: {}",
            s.name,
            s.package,
            s.version,
            sources.join(", ")
        )
    }
}
