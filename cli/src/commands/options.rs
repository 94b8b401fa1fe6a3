//! `b8g options [--json] [FILE]`: the options of the system modules (and of
//! FILE's own modules) with types, defaults and descriptions (issue 6).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use b8g_system::build::{options_doc, OptionsFormat};

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A system configuration whose own option declarations are listed too.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print a JSON list instead of Markdown.
    #[arg(long)]
    json: bool,
    /// The recipes directory (lib, modules, pkgs).
    #[arg(long, env = "B8G_RECIPES", value_name = "DIR")]
    recipes: Option<PathBuf>,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    p.canonicalize()
        .with_context(|| format!("cannot find {}", p.display()))
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let recipes = absolute(
        &args
            .recipes
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes")),
    )?;
    let file = args.file.as_deref().map(absolute).transpose()?;
    let format = if args.json {
        OptionsFormat::Json
    } else {
        OptionsFormat::Markdown
    };
    let store_dir = global.store_config()?.store_dir;
    let text = options_doc(&recipes, file.as_deref(), store_dir, format)
        .context("cannot list the options")?;
    print!("{text}");
    if args.json {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
