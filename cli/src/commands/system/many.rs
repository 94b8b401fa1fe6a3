//! `b8g-build` of several files or several `-A`: each file evaluated on its
//! own thread, once for all its attributes, then everything realised in one
//! run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_system::build;
use b8g_system::file::{FileEval, Source};

use super::realise_link::realise_and_link;
use super::{source_of, system_options_for, BuildArgs, GlobalArgs};

/// `b8g build FILE FILE… -A ATTR -A ATTR…`: every file instantiated at once
/// (see [`b8g_system::targets`]), each once for all its attributes (files
/// outer, attributes inner, as nix-build takes them), then all their
/// derivations realised together.
pub(super) fn exec_build_many(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
    if args.image {
        bail!("--image writes the image of one system: give one FILE and at most one -A");
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let sources: Vec<(String, Source, Option<PathBuf>)> = match &args.expr {
        Some(_) => {
            let (source, file) = source_of(args.expr.as_ref(), &args.file, &cwd)?;
            vec![("-E".to_string(), source, file)]
        }
        None => std::iter::once(&args.file)
            .chain(&args.more.files)
            .map(|f| {
                let (source, file) = source_of(None, f, &cwd)?;
                Ok((f.display().to_string(), source, file))
            })
            .collect::<Result<_>>()?,
    };
    let attr = args.attr().unwrap_or("toplevel");
    // A file is known to be a system only once evaluated: the settings for
    // building one are an error only for a file that turns out to be one.
    let mut settings_error = None;
    let mut targets = Vec::new();
    let mut files = Vec::new();
    for (shown, source, file) in &sources {
        let system = match file
            .as_ref()
            .map(|f| system_options_for(global, &args, f.clone(), attr, Vec::new()))
        {
            Some(Ok(o)) => Some(o),
            Some(Err(e)) => {
                settings_error = Some(e);
                None
            }
            None => None,
        };
        targets.push(b8g_system::targets::Target {
            what: FileEval {
                source: source.clone(),
                attrs: args.attrs.clone(),
                args: args.more.auto.args(),
                search_path: args.more.auto.search_path(),
                cwd: cwd.clone(),
            },
            system,
            show_trace: args.show_trace,
        });
        files.push(shown.clone());
    }
    let threads = b8g_builder::glue::parallel::default_threads();
    let results = b8g_system::targets::instantiate_targets(
        &global.store_config()?,
        &targets,
        threads,
        |line| eprintln!("{line}"),
    );
    let mut drvs = Vec::new();
    for (file, r) in files.iter().zip(results) {
        match r {
            Ok(done) => drvs.extend(done.drvs),
            Err(build::SystemBuildError::Eval(m)) => {
                eprintln!("{}", super::super::ansi::for_stderr(&m));
                return Ok(ExitCode::FAILURE);
            }
            Err(build::SystemBuildError::NoSystemSettings(_)) if settings_error.is_some() => {
                let e = settings_error
                    .take()
                    .unwrap_or_else(|| anyhow::anyhow!("no settings"));
                return Err(e).with_context(|| format!("cannot build {file}"));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot build {file}")),
        }
    }
    realise_and_link(global, &args, drvs)
}
