//! `cargo xtask bench build`: `b8g-build` against `nix-build` (issue 4), in
//! the same run, both sandboxed, on the same trivial derivations (a static
//! busybox writing an empty `$out`):
//! - a wide fan: `--fan N` (default 1000) independent derivations, `-j2`;
//! - a chain: `--chain N` (default 300) derivations each depending on the
//!   previous one, `-j2`.
//!
//! - `--remote-fan N` (default 1000; 0 skips it): the fan on two local
//!   "remote" machines over ssh (`remote.rs`), `-j0`, by both tools with the
//!   same machines file; its ms/drv less the local fan's is the per-build
//!   overhead of the remote path.
//!
//! Each tool evaluates, instantiates and builds in its own throw-away store
//! (Nix: `NIX_REMOTE=local?root=…`, `sandbox = true`; b8g: a chroot store
//! under the same directory). A fresh salt per run makes every derivation
//! new. With `--runs N` (default 1) each case runs N times, the two tools
//! alternating, and the medians are compared (the machine may be shared:
//! the load average is printed with every row). Printed: wall times, the
//! ratio (nix time / b8g time, above 1 means b8g is faster) and the time
//! per derivation in ms, i.e. the per-build overhead (the builder itself
//! does nothing).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

mod remote;

const FAN_NIX: &str = r#"{ n, salt }:
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
in builtins.genList (i: derivation {
  name = "fan-${salt}-${toString i}";
  system = "x86_64-linux";
  builder = "${bb}/bin/busybox";
  args = [ "sh" "-c" ": > $out" ];
}) n
"#;

const CHAIN_NIX: &str = r#"{ n, salt }:
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  step = i: prev: derivation {
    name = "chain-${salt}-${toString i}";
    system = "x86_64-linux";
    builder = "${bb}/bin/busybox";
    args = [ "sh" "-c" ": ${toString prev} > $out" ];
  };
  go = i: prev: if i == n then prev else go (i + 1) (step i prev);
in go 0 ""
"#;

struct Options {
    fan: usize,
    remote_fan: usize,
    chain: usize,
    jobs: usize,
    runs: usize,
    dir: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        fan: 1000,
        remote_fan: 1000,
        chain: 300,
        jobs: 2,
        runs: 1,
        dir: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--fan" => o.fan = value(a)?.parse().context("--fan")?,
            "--chain" => o.chain = value(a)?.parse().context("--chain")?,
            "--remote-fan" => o.remote_fan = value(a)?.parse().context("--remote-fan")?,
            "-j" | "--jobs" => o.jobs = value(a)?.parse().context("-j")?,
            "--runs" => o.runs = value(a)?.parse::<usize>().context("--runs")?.max(1),
            "--dir" => o.dir = Some(PathBuf::from(value(a)?)),
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask bench build [--fan N] [--chain N] [--remote-fan N] [-j N] [--runs N] [--dir DIR]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(o)
}

/// Builds the release `b8g-build` (and `b8g`, which the remote machines
/// run) and returns the path of `b8g-build`.
fn build_b8g() -> Result<PathBuf> {
    super::run(super::cargo().args([
        "build",
        "--release",
        "-p",
        "b8g-cli",
        "--bin",
        "b8g-build",
        "--bin",
        "b8g",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        super::root().join(target)
    };
    let bin = target.join("release/b8g-build");
    ensure!(bin.is_file(), "no {} after cargo build", bin.display());
    Ok(bin)
}

fn timed(mut c: Command, what: &str) -> Result<f64> {
    let t = Instant::now();
    let out = c.output().with_context(|| format!("cannot run {what}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(secs)
}

fn nix_build(dir: &Path, file: &str, n: usize, salt: &str, jobs: usize) -> Command {
    let mut c = Command::new("nix-build");
    c.current_dir(dir)
        .env(
            "NIX_REMOTE",
            format!("local?root={}", dir.join("nix-root").display()),
        )
        .args([file, "--no-out-link", "-j", &jobs.to_string()])
        .args([
            "--option",
            "sandbox",
            "true",
            "--option",
            "substituters",
            "",
        ])
        .args(["--arg", "n", &n.to_string(), "--argstr", "salt", salt]);
    c
}

fn b8g_build(bin: &Path, dir: &Path, file: &str, n: usize, salt: &str, jobs: usize) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .args([
            "--store-dir",
            "/b8g/store",
            "--state-dir",
            "/b8g/var/b8g",
            "--root",
        ])
        .arg(dir.join("b8g-root"))
        .args(["-q", file, "--no-out-link", "-j", &jobs.to_string()])
        .args(["--arg", "n", &n.to_string(), "--argstr", "salt", salt])
        .env("B8G_CONF", dir.join("no-b8g.conf"));
    c
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let version = Command::new("nix-build").arg("--version").output();
    ensure!(
        version.as_ref().is_ok_and(|v| v.status.success()),
        "this benchmark needs nix-build (Debian package nix-bin)"
    );
    ensure!(
        Path::new("/bin/busybox").is_file(),
        "this benchmark needs a static busybox at /bin/busybox (Debian package busybox-static)"
    );
    let bin = build_b8g()?;
    let tmp;
    let dir = match &o.dir {
        Some(d) => {
            fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    fs::create_dir_all(dir.join("bb/bin"))?;
    fs::copy("/bin/busybox", dir.join("bb/bin/busybox"))?;
    fs::write(dir.join("fan.nix"), FAN_NIX)?;
    fs::write(dir.join("chain.nix"), CHAIN_NIX)?;
    let salt = format!("{}", std::process::id());

    // Warm up: import busybox, create the databases.
    timed(
        nix_build(&dir, "fan.nix", 1, &format!("w{salt}"), 1),
        "nix-build",
    )?;
    timed(
        b8g_build(&bin, &dir, "fan.nix", 1, &format!("w{salt}"), 1),
        "b8g-build",
    )?;

    println!(
        "{:<28} {:>10} {:>10} {:>7} {:>12} {:>12}  load (1/5/15 min)",
        "case", "nix-build", "b8g-build", "ratio", "nix ms/drv", "b8g ms/drv"
    );
    for (name, file, n) in [("fan", "fan.nix", o.fan), ("chain", "chain.nix", o.chain)] {
        let salt_of = |run: usize| format!("{name}{salt}r{run}");
        compare(
            &format!("{name} of {n} (-j{})", o.jobs),
            o.runs,
            n,
            |run| timed(nix_build(&dir, file, n, &salt_of(run), o.jobs), "nix-build"),
            |run| {
                timed(
                    b8g_build(&bin, &dir, file, n, &salt_of(run), o.jobs),
                    "b8g-build",
                )
            },
        )?;
    }
    if o.remote_fan > 0 {
        let n = o.remote_fan;
        let machines = remote::start(&dir.join("remote"), &bin.with_file_name("b8g"), 2, 2)?;
        // Each tool its own salt: neither finds the other's outputs on the machines.
        compare(
            &format!("fan of {n} on 2 machines x2 (-j0)"),
            o.runs,
            n,
            |run| {
                let s = format!("nremote{salt}r{run}");
                timed(
                    remote::nix_build(&dir, &machines, "fan.nix", n, &s),
                    "nix-build --builders",
                )
            },
            |run| {
                let s = format!("bremote{salt}r{run}");
                timed(
                    remote::b8g_build(&bin, &dir, &machines, "fan.nix", n, &s),
                    "b8g-build --builders",
                )
            },
        )?;
    }
    if o.dir.is_none() {
        let _ = Command::new("chmod").args(["-R", "u+w"]).arg(&dir).status();
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Runs both tools `runs` times, alternating which goes first (so neither
/// always meets the other's leftovers: writeback, namespace clean-up), and
/// prints each run and the medians.
fn compare(
    label: &str,
    runs: usize,
    n: usize,
    nix_run: impl Fn(usize) -> Result<f64>,
    our_run: impl Fn(usize) -> Result<f64>,
) -> Result<()> {
    let (mut nix_times, mut our_times) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (nix, ours) = if run % 2 == 0 {
            let nix = nix_run(run)?;
            (nix, our_run(run)?)
        } else {
            let ours = our_run(run)?;
            (nix_run(run)?, ours)
        };
        if runs > 1 {
            row(&format!("  run {}", run + 1), nix, ours, n);
        }
        nix_times.push(nix);
        our_times.push(ours);
    }
    let label = if runs > 1 {
        format!("{label}, median")
    } else {
        label.to_owned()
    };
    row(
        &label,
        crate::median(&mut nix_times),
        crate::median(&mut our_times),
        n,
    );
    Ok(())
}

fn row(label: &str, nix: f64, ours: f64, n: usize) {
    println!(
        "{:<28} {:>9.2}s {:>9.2}s {:>6.1}x {:>12.1} {:>12.1}  {}",
        label,
        nix,
        ours,
        nix / ours,
        nix * 1e3 / n as f64,
        ours * 1e3 / n as f64,
        load_average()
    );
}

/// The first three fields of /proc/loadavg, or "?".
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn tempdir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("b8g-bench-build-{}", std::process::id()));
    fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    Ok(base)
}
