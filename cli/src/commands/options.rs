//! `b8g options [--json] [FILE] [NAME]`: the options of the system modules (and of
//! FILE's own modules) with types, defaults and descriptions (issue 6); with NAME
//! (`services.openssh`), only that option and those below it, as `nixos-option`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_system::build::{options_doc, OptionsFormat};

use super::system::absolute;
use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A system configuration whose own option declarations are listed too, and/or
    /// an option name (`services.openssh.enable`, or a prefix such as
    /// `services.openssh`) to show only that option and those below it.
    #[arg(value_name = "FILE|NAME", num_args = 0..=2)]
    args: Vec<String>,
    /// Print a JSON list instead of Markdown.
    #[arg(long)]
    json: bool,
    /// The recipes directory (lib, modules, pkgs).
    #[arg(long, env = "B8G_RECIPES", value_name = "DIR")]
    recipes: Option<PathBuf>,
}

pub fn exec(global: &GlobalArgs, args: Args) -> Result<ExitCode> {
    let recipes = absolute(
        &args
            .recipes
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes")),
    )?;
    // An argument that names no file and looks like an option path is a NAME.
    let (names, files): (Vec<&String>, Vec<&String>) = args
        .args
        .iter()
        .partition(|a| !Path::new(a.as_str()).exists() && !a.contains('/') && !a.ends_with(".nix"));
    if names.len() > 1 || files.len() > 1 {
        bail!("give at most one FILE and one option NAME");
    }
    let file = files
        .first()
        .map(|f| absolute(Path::new(f.as_str())))
        .transpose()?;
    let format = if args.json {
        OptionsFormat::Json
    } else {
        OptionsFormat::Markdown
    };
    let store_dir = global.store_config()?.store_dir;
    let text = options_doc(&recipes, file.as_deref(), store_dir, format)
        .context("cannot list the options")?;
    let text = match names.first() {
        None => text,
        Some(name) => {
            let (shown, count) = only_under(&text, name, args.json)?;
            if count == 0 {
                bail!("no option is named {name} or lies below it (b8g options lists them all)");
            }
            shown
        }
    };
    print!("{text}");
    if args.json {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether option `option` is `name` or below it.
fn under(option: &str, name: &str) -> bool {
    option == name
        || option
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The options document cut down to `name` and what lies below it, with the count.
fn only_under(text: &str, name: &str, json: bool) -> Result<(String, usize)> {
    if json {
        let all: Vec<serde_json::Value> =
            serde_json::from_str(text).context("the options list is not JSON")?;
        let kept: Vec<_> = all
            .into_iter()
            .filter(|o| o["name"].as_str().is_some_and(|n| under(n, name)))
            .collect();
        let n = kept.len();
        return Ok((serde_json::to_string_pretty(&kept)?, n));
    }
    // Markdown: one `## `name`` section per option.
    let mut out = String::new();
    let mut n = 0;
    for section in text
        .split_inclusive("\n## ")
        .map(|s| s.trim_end_matches("## "))
    {
        let body = section.strip_prefix("## ").unwrap_or(section);
        let option = body
            .strip_prefix('`')
            .and_then(|b| b.split_once('`'))
            .map(|(o, _)| o);
        if option.is_some_and(|o| under(o, name)) {
            out.push_str("## ");
            out.push_str(body.trim_end());
            out.push_str("\n\n");
            n += 1;
        }
    }
    Ok((out, n))
}
