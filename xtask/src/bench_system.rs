//! `cargo xtask bench system`: for images/minimal.nix, from one run —
//! the no-op rebuild time on a warm store (issue 6's target: under 1 s), the
//! evaluation time of its toplevel with b8g-eval against `nix-instantiate` of the
//! same recipes/lib evaluation, and the boot time from kernel start to
//! `b8g: system ready` under TCG (the guest's own uptime, as b8g-init reports it).
//!
//! The warm store lives in target/bench-system (kept between runs). Each
//! timing is repeated and the median printed with the minimum and maximum.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn timed(cmd: &mut Command) -> Result<(Duration, Output)> {
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((took, out))
}

/// Median, minimum and maximum of `RUNS` timings of `cmd()`; also the last output.
fn repeat(mut cmd: impl FnMut() -> Command) -> Result<(Stats, Output)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let (t, out) = timed(&mut cmd())?;
        times.push(t);
        last = Some(out);
    }
    times.sort();
    let out = last.context("no runs")?;
    Ok((
        Stats {
            median: times[times.len() / 2],
            min: times[0],
            max: times[times.len() - 1],
        },
        out,
    ))
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.3} s (min {:.3}, max {:.3}, {RUNS} runs)",
            self.median.as_secs_f64(),
            self.min.as_secs_f64(),
            self.max.as_secs_f64()
        )
    }
}

/// The toplevel's .drv path as one Nix expression, for both evaluators.
fn drv_expr(root: &Path, bin: &Path) -> String {
    format!(
        "(import {r}/recipes/eval-config.nix {{ modules = [ {r}/images/minimal.nix ]; \
         pkgs = import {r}/recipes/pkgs {{ b8gBin = {b}; }}; }}).config.system.build.toplevel.drvPath",
        r = root.display(),
        b = bin.display()
    )
}

pub fn run(args: &[String]) -> Result<()> {
    // `--debug` times a debug build of b8g (quicker to get, slower to run).
    let debug = args.iter().any(|a| a == "--debug");
    super::ensure_packages(&["qemu-system-x86", "erofs-utils", "nix-bin"])?;
    super::ensure_apt_lists()?;
    let root = super::root();
    // B8G_INIT_BIN, when set, names a ready directory with the static b8g-init.
    let bin = match std::env::var_os("B8G_INIT_BIN") {
        Some(b) => PathBuf::from(b),
        None => super::build_static_init()?,
    };
    let mut cargo = super::cargo();
    cargo.args(["build", "-p", "b8g-cli"]);
    if !debug {
        cargo.arg("--release");
    }
    super::run(&mut cargo)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let b8g: PathBuf = target
        .join(if debug { "debug" } else { "release" })
        .join("b8g");
    let store_root = root.join("target/bench-system");
    std::fs::create_dir_all(&store_root)?;
    let link = store_root.join("result");
    let build = || {
        let mut c = Command::new(&b8g);
        c.current_dir(&root)
            .args(["-q", "--root"])
            .arg(&store_root)
            .args(["build", "-o"])
            .arg(&link)
            .arg("--b8g-bin")
            .arg(&bin)
            .arg("images/minimal.nix");
        c
    };

    // Warm the store (the first build fetches the seeds and builds everything).
    let (first, out) = timed(&mut build())?;
    let toplevel = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "first build of this run: {:.1} s -> {toplevel}",
        first.as_secs_f64()
    );

    let (noop, out) = repeat(build)?;
    let again = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if again != toplevel {
        bail!("a no-op rebuild gave another toplevel: {again} (first {toplevel})");
    }

    // Evaluation only: the toplevel's .drv path, computed for /nix/store by both.
    let expr = drv_expr(&root, &bin);
    let nix_state = store_root.join("nix-state");
    let (nix, nix_out) = repeat(|| {
        let mut c = Command::new("nix-instantiate");
        c.args(["--eval", "--store", "dummy://", "-E", &expr])
            .env("NIX_STATE_DIR", &nix_state);
        c
    })?;
    let (ours, our_out) = repeat(|| {
        let mut c = Command::new(&b8g);
        c.args(["--store-dir", "/nix/store", "eval", "-E", &expr]);
        c
    })?;
    let (a, b) = (
        String::from_utf8_lossy(&nix_out.stdout).trim().to_string(),
        String::from_utf8_lossy(&our_out.stdout).trim().to_string(),
    );
    if a != b {
        bail!("the evaluators disagree on the toplevel's .drv: nix {a}, b8g {b}");
    }

    // Boot: the generation just built, until b8g-init reports the system ready.
    let (boot_wall, boot_out) = timed(
        Command::new(&b8g)
            .current_dir(&root)
            .args(["-q", "--root"])
            .arg(&store_root)
            .args([
                "run-vm",
                "--until",
                "b8g: system ready",
                "--timeout",
                "300",
                "-o",
            ])
            .arg(&link)
            .arg("--b8g-bin")
            .arg(&bin)
            .arg("images/minimal.nix"),
    )?;
    let console = String::from_utf8_lossy(&boot_out.stdout);
    let ready_ms: u64 = console
        .lines()
        .find_map(|l| {
            let rest = l.split("b8g: system ready in ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .context("the console has no `b8g: system ready in N ms` line")?;
    let launch_to_ready = String::from_utf8_lossy(&boot_out.stderr)
        .lines()
        .find_map(|l| {
            l.strip_prefix("seen \"b8g: system ready\" after ")
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into());

    println!(
        "images/minimal.nix ({toplevel}), {} build of b8g",
        if debug { "debug" } else { "release" }
    );
    println!(
        "  no-op rebuild, warm store:        {noop}   target < 1 s: {}",
        if noop.median < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("  evaluation to .drv, b8g-eval:     {ours}");
    println!("  evaluation to .drv, nix-instantiate 2.8: {nix}");
    println!(
        "  eval ratio b8g/nix:               {:.2}",
        ours.median.as_secs_f64() / nix.median.as_secs_f64()
    );
    println!("  boot, kernel start -> system ready (guest uptime, TCG): {ready_ms} ms");
    println!(
        "  boot, qemu launch -> system ready (host): {launch_to_ready}; whole run-vm incl. no-op build and image: {:.1} s",
        boot_wall.as_secs_f64()
    );
    Ok(())
}
