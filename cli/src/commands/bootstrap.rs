//! `b8g bootstrap`: the pinned Debian seeds (issue 4).
//!
//! `b8g bootstrap lock` rewrites `recipes/bootstrap/pins.nix` with the
//! versions and sha256s apt currently offers for the pinned names (run
//! `apt-get update` first). The work is done by `b8g_builder::builtin::pins`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use b8g_builder::builtin::pins::{lock_pins, AptResolver};

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Regenerate the versions and sha256s of pins.nix from apt.
    Lock {
        /// The pins file (default: this workspace's recipes/bootstrap/pins.nix).
        #[arg(long, value_name = "FILE")]
        pins: Option<PathBuf>,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn exec(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Lock { pins, dry_run } => {
            let path = pins.unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/bootstrap/pins.nix")
            });
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let (new, changes) = lock_pins(&text, &AptResolver::default())
                .with_context(|| format!("lock {}", path.display()))?;
            for c in &changes {
                println!("{}: {} -> {}", c.name, c.old_version, c.new_version);
            }
            if new == text {
                println!("{} is up to date", path.display());
            } else if dry_run {
                println!("{} would change (--dry-run: not written)", path.display());
            } else {
                let tmp = path.with_extension("nix.tmp");
                std::fs::write(&tmp, &new).with_context(|| format!("write {}", tmp.display()))?;
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("replace {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
