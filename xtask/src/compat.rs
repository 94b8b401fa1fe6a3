//! `cargo xtask compat nixpkgs-lib DIR`: nixpkgs lib's own test suites, run
//! under b8g (standing in for `nix-instantiate` through a link of that name)
//! and under Nix 2.8, side by side.
//!
//! DIR is a nixpkgs checkout or its `lib` directory (then a copy is run under a stand-in
//! top level giving the one derivation misc.nix imports from nixpkgs). Suites:
//! - `misc.nix`: `nix-instantiate --eval --strict lib/tests/misc.nix` must
//!   print `[ ]`; otherwise it lists the failed tests by name.
//! - `modules.sh`: run as it is, with each tool first on PATH; its checks
//!   are named by the command it reports for a failure.
//!
//! Both tools get throw-away stores (Nix: `NIX_REMOTE=local?root=…`; b8g:
//! `B8G_STORE_ROOT`, with `/nix/store` as the store directory so paths look
//! alike). Nothing here is timed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One suite's outcome under one tool.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    /// Names of the failed checks.
    pub(crate) failures: BTreeSet<String>,
    /// Set when the suite could not run to its end.
    pub(crate) broken: Option<String>,
}

pub fn run(args: &[String]) -> Result<()> {
    let (Some("nixpkgs-lib"), Some(dir)) = (args.first().map(String::as_str), args.get(1)) else {
        bail!(
            "usage: cargo xtask compat nixpkgs-lib DIR (a nixpkgs checkout or its lib directory)"
        );
    };
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let lib = runnable_lib(Path::new(dir), scratch.path())?;
    crate::ensure_packages(&["nix-bin"])?;
    crate::run(crate::cargo().args(["build", "--release", "-p", "b8g-cli", "--bin", "b8g"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    let b8g = target.join("release/b8g");
    let shim = nix_instantiate_shim(&b8g, &scratch.path().join("b8g-bin"))?;
    let nix_bin = which("nix-instantiate")?
        .parent()
        .context("nix-instantiate has no directory")?
        .to_owned();

    let tools: [(&str, PathBuf); 2] = [("b8g", shim), ("nix 2.8", nix_bin)];
    let mut rows = Vec::new();
    for suite in ["misc.nix", "modules.sh"] {
        let mut outcomes = Vec::new();
        for (name, bin) in &tools {
            let store = scratch
                .path()
                .join(format!("store-{}", name.replace(' ', "-")));
            eprintln!("compat: {suite} under {name}");
            let o = match suite {
                "misc.nix" => misc(&lib, bin, &store)?,
                _ => modules(&lib, bin, &store)?,
            };
            outcomes.push(o);
        }
        rows.push((suite, outcomes));
    }
    println!("| suite | b8g passed | b8g failed | Nix 2.8 passed | Nix 2.8 failed |");
    println!("|---|---|---|---|---|");
    for (suite, o) in &rows {
        println!(
            "| {suite} | {} | {} | {} | {} |",
            o[0].passed, o[0].failed, o[1].passed, o[1].failed
        );
    }
    for (suite, o) in &rows {
        for (i, (name, _)) in tools.iter().enumerate() {
            if let Some(why) = &o[i].broken {
                println!("\n{suite} did not run to its end under {name}: {why}");
            }
        }
        let only_b8g: Vec<_> = o[0].failures.difference(&o[1].failures).collect();
        let only_nix: Vec<_> = o[1].failures.difference(&o[0].failures).collect();
        if !only_b8g.is_empty() {
            println!("\n{suite}: failing under b8g only ({}):", only_b8g.len());
            for f in only_b8g {
                println!("  {f}");
            }
        }
        if !only_nix.is_empty() {
            println!(
                "\n{suite}: failing under Nix 2.8 only ({}):",
                only_nix.len()
            );
            for f in only_nix {
                println!("  {f}");
            }
        }
    }
    Ok(())
}

/// The lib directory of DIR (a nixpkgs checkout or its lib), under a top level
/// misc.nix can import: the checkout's own, or a stand-in written in `scratch`.
pub(crate) fn runnable_lib(dir: &Path, scratch: &Path) -> Result<PathBuf> {
    let lib = lib_dir(dir)?;
    if lib
        .parent()
        .is_some_and(|top| top.join("default.nix").is_file())
    {
        Ok(lib)
    } else {
        with_standin_top_level(&lib, scratch)
    }
}

/// What misc.nix asks of nixpkgs' top level (`(import ../.. { system = …; }).hello`, a
/// derivation whose path it checks) when only the lib is at hand.
const STANDIN_TOP_LEVEL: &str =
    "# Written by cargo xtask compat: nixpkgs' top level as lib's misc.nix uses it.
{ system ? builtins.currentSystem, ... }:
{
  hello = derivation { name = \"hello-2.12\"; inherit system; builder = \"/bin/sh\"; };
}
";

/// A copy of `lib` under a stand-in for nixpkgs' top level (the same for both tools);
/// returns the copy's lib directory.
fn with_standin_top_level(lib: &Path, scratch: &Path) -> Result<PathBuf> {
    let top = scratch.join("nixpkgs");
    std::fs::create_dir_all(&top)?;
    let status = Command::new("cp")
        .arg("-r")
        .arg(lib)
        .arg(top.join("lib"))
        .status()
        .context("cannot run cp")?;
    if !status.success() {
        bail!("cannot copy {} into {}", lib.display(), top.display());
    }
    std::fs::write(top.join("default.nix"), STANDIN_TOP_LEVEL)?;
    Ok(top.join("lib"))
}

/// `DIR/lib` of a checkout, or DIR itself when it is the lib directory.
fn lib_dir(dir: &Path) -> Result<PathBuf> {
    for cand in [dir.join("lib"), dir.to_owned()] {
        if cand.join("tests/modules.sh").is_file() {
            return Ok(cand.canonicalize()?);
        }
    }
    bail!(
        "{} is neither a nixpkgs checkout nor its lib directory (no tests/modules.sh)",
        dir.display()
    )
}

/// Makes `dir` holding `nix-instantiate`, a link to `b8g`; returns `dir`.
pub(crate) fn nix_instantiate_shim(b8g: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    // Absolute: a relative path would make a dangling link, and PATH would
    // then find Nix's own nix-instantiate.
    let b8g = b8g
        .canonicalize()
        .with_context(|| format!("cannot find {}", b8g.display()))?;
    std::os::unix::fs::symlink(&b8g, dir.join("nix-instantiate"))
        .context("cannot link nix-instantiate to b8g")?;
    Ok(dir.to_path_buf())
}

pub(crate) fn which(tool: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .with_context(|| format!("{tool} is not on PATH (install nix-bin)"))
}

/// A command with `bin` first on PATH and a throw-away store for either tool.
pub(crate) fn with_tool(mut c: Command, bin: &Path, store: &Path) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.to_owned()];
    dirs.extend(std::env::split_paths(&path));
    c.env("PATH", std::env::join_paths(dirs).expect("PATH entries"))
        .env("NIX_REMOTE", format!("local?root={}", store.display()))
        .env("NIX_CONFIG", "build-users-group =\nsubstituters =\n")
        .env("B8G_STORE_ROOT", store)
        .env("B8G_STORE_DIR", "/nix/store")
        .env("B8G_STATE_DIR", "/nix/var/nix")
        .env_remove("NIX_PATH");
    c
}

fn misc(lib: &Path, bin: &Path, store: &Path) -> Result<Outcome> {
    let file = lib.join("tests/misc.nix");
    let mut c = Command::new(bin.join("nix-instantiate"));
    // Only the names: a failed test's values may be functions, which JSON
    // cannot hold.
    c.args(["--eval", "--strict", "--json", "-E"])
        .arg(format!("map (t: t.name) (import {})", file.display()));
    let out = with_tool(c, bin, store)
        .output()
        .context("cannot run nix-instantiate")?;
    let total = count_tests(&file)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Ok(Outcome {
            broken: Some(err.lines().take(3).collect::<Vec<_>>().join(" / ")),
            ..Outcome::default()
        });
    }
    let failures: BTreeSet<String> =
        serde_json::from_slice(&out.stdout).context("misc.nix did not give a list of names")?;
    Ok(Outcome {
        passed: total.saturating_sub(failures.len()),
        failed: failures.len(),
        failures,
        broken: None,
    })
}

/// Tests in misc.nix: attributes named `test…` (how `runTests` picks them).
fn count_tests(file: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(file)?;
    Ok(text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("test") && t.contains(" = ")
        })
        .count())
}

fn modules(lib: &Path, bin: &Path, store: &Path) -> Result<Outcome> {
    let mut c = Command::new("bash");
    c.arg(lib.join("tests/modules.sh"));
    let out = with_tool(c, bin, store)
        .output()
        .context("cannot run modules.sh")?;
    Ok(modules_outcome(&format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// What modules.sh reported, read from its output (stdout and stderr).
pub(crate) fn modules_outcome(text: &str) -> Outcome {
    let mut o = Outcome::default();
    // A failure is reported as "error: Expected …, while evaluating" then
    // "$ nix-instantiate <the command>": the pair names the check.
    let mut expectation = "";
    for line in text.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_suffix(" Pass") {
            o.passed = n.trim().parse().unwrap_or(0);
        } else if let Some(n) = t.strip_suffix(" Fail") {
            o.failed = n.trim().parse().unwrap_or(0);
        } else if t.starts_with("error: Expected ") {
            expectation = t;
        } else if let Some(cmd) = t.strip_prefix("$ nix-instantiate ") {
            o.failures.insert(format!("{cmd}  [{expectation}]"));
        }
    }
    if o.passed + o.failed == 0 {
        o.broken = Some(text.lines().rev().take(3).collect::<Vec<_>>().join(" / "));
    }
    o
}
