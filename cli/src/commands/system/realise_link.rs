//! What `b8g-build` does with the derivations an evaluation gave: realise
//! them (or print the plan of a dry run), report failed builds with their
//! logs' tails, and link and print the outputs as nix-build 2.8 does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use b8g_builder::realise;
use b8g_builder::sandbox::CancelToken;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;

use super::{progress, realise_options, BuildArgs, GlobalArgs};

/// Prints what a dry run would build and fetch, as nix-build does.
pub(super) fn print_plan(store: &LocalStore, plan: &realise::Plan) {
    if plan.build.len() == 1 {
        eprintln!("this derivation will be built:");
    } else if !plan.build.is_empty() {
        eprintln!("these {} derivations will be built:", plan.build.len());
    }
    for d in &plan.build {
        eprintln!("  {}", store.print_path(d));
    }
    // Nix adds the download and unpacked sizes, which the plan does not know.
    if plan.fetch.len() == 1 {
        eprintln!("this path will be fetched:");
    } else if !plan.fetch.is_empty() {
        eprintln!("these {} paths will be fetched:", plan.fetch.len());
    }
    for p in &plan.fetch {
        eprintln!("  {}", store.print_path(p));
    }
}

/// nix-build's exit status when a build failed.
pub(super) const BUILD_FAILED: u8 = 100;
/// How much of a failed build's log is shown (as Nix's `log-lines`, 25 by default).
const LOG_TAIL_LINES: usize = 25;

/// The last `n` lines of a build log (none when it cannot be read).
pub(super) fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Each failed build with the tail of its log and the command that shows all of it.
pub(super) fn report_failed_builds<E: std::fmt::Display, S: std::fmt::Display>(
    store: &LocalStore,
    failures: &[(String, E)],
    summary: &S,
) {
    for (drv, e) in failures {
        // A builder's own failure already reads as Nix's ("builder for '…' failed with …").
        let why = e.to_string();
        if why.starts_with("builder for '") {
            eprintln!("error: {why}");
        } else {
            eprintln!("error: builder for '{drv}' failed: {why}");
        }
        if let Ok(p) = store.parse_path(drv) {
            let tail = log_tail(&realise::log_path(store, &p), LOG_TAIL_LINES);
            if !tail.is_empty() {
                eprintln!("       last {} log lines:", tail.len());
                for line in &tail {
                    eprintln!("       > {line}");
                }
            }
            eprintln!("       For full logs, run 'b8g log {drv}'.");
        }
    }
    eprintln!("error: {} failed ({summary})", failures.len());
}

/// `result`, `result-2`, … and `result-<output>` for outputs other than `out`, as nix-build names them.
pub(super) fn link_name(base: &Path, index: usize, output: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    if index > 0 {
        name.push(format!("-{}", index + 1));
    }
    if output != "out" {
        name.push(format!("-{output}"));
    }
    PathBuf::from(name)
}

/// Realises the derivations the evaluation gave (`.drv` path and wanted output, see
/// [`FileKind::Derivations`]), links and prints their outputs as nix-build 2.8 does;
/// a dry run prints the plan.
pub(super) fn realise_and_link(
    global: &GlobalArgs,
    args: &BuildArgs,
    wanted: Vec<(String, String)>,
) -> Result<ExitCode> {
    let store = global.open_store()?;
    let wanted: Vec<(StorePath, String)> = wanted
        .into_iter()
        .map(|(d, output)| Ok((store.parse_path(&d)?, output)))
        .collect::<Result<_, b8g_store::local::Error>>()
        .context("evaluation gave a derivation outside the store")?;
    let mut drvs: Vec<StorePath> = Vec::new();
    for (drv, _) in &wanted {
        if !drvs.contains(drv) {
            drvs.push(drv.clone());
        }
    }
    let opts = realise_options(global, args)?;
    if args.dry_run {
        let plan = realise::plan(&store, &drvs, &opts.substituters)?;
        print_plan(&store, &plan);
        return Ok(ExitCode::SUCCESS);
    }
    let cancel = CancelToken::new().context("cannot set up cancellation")?;
    let progress = progress(global, args);
    let result = realise::realise(
        &store,
        &drvs,
        &opts,
        &b8g_kernel_adapters::builtins(),
        progress.as_ref(),
        &cancel,
    );
    drop(progress);
    let realised = match result {
        Ok(r) => r,
        Err(realise::RealiseError::Failed { failures, summary }) => {
            report_failed_builds(&store, &failures, &summary);
            // nix-build's status for failed builds.
            return Ok(ExitCode::from(BUILD_FAILED));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for (drv, reason) in &realised.substitution_failures {
        eprintln!(
            "warning: could not substitute the outputs of {}, built them instead: {reason}",
            store.print_path(drv)
        );
    }
    if global.quiet == 0 {
        eprintln!(
            "{} built, {} paths fetched, {} already valid",
            realised.summary.built,
            realised.substituted.len(),
            realised.summary.already_done
        );
    }
    // As nix-build: each derivation value stands for one output (its outputName),
    // printed once per value; links are numbered by distinct derivation, so a
    // derivation given twice has one link.
    for (drv, output) in &wanted {
        let Some(out) = realised.outputs[drv].get(output) else {
            bail!(
                "derivation '{}' does not have wanted output '{output}'",
                store.print_path(drv)
            );
        };
        if !args.no_out_link {
            let index = drvs.iter().position(|d| d == drv).unwrap_or_default();
            store.make_result_link(&link_name(&args.out_link, index, output), out)?;
        }
        println!("{}", store.print_path(out));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_log_tail_is_its_last_lines() {
        let t = tempfile::tempdir().expect("tempdir");
        let log = t.path().join("log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).expect("log");
        let tail = super::log_tail(&log, 25);
        assert_eq!(
            (tail.len(), tail[0].as_str(), tail[24].as_str()),
            (25, "line 6", "line 30")
        );
        assert!(super::log_tail(&t.path().join("none"), 25).is_empty());
    }
}
