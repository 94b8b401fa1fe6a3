//! `cargo xtask bench eval`: b8g's evaluator against `nix-instantiate --eval
//! --strict`, in the same run, on the same expressions (issue 3).
//!
//! The cases live in `testdata/eval/bench/`: (a) `fib.nix`, naive Fibonacci
//! of 30; (b) `fold.nix`, building and folding a 200 000-element list and
//! attribute set; (c) `overlays.nix`, 50 overlays over a 2 000-attribute
//! package set with `fix`/`extends`; (d) `minimal.nix`, the drvPath of
//! `images/minimal.nix`'s system toplevel through `recipes/eval-config.nix`.
//!
//! Both tools run as users run them, as child processes: the release
//! `b8g eval --strict` (built here) and `nix-instantiate --eval --strict
//! --store dummy://` with a throw-away state directory. Their outputs must be
//! equal before anything is timed. Each side's wall time is the median of
//! `--runs` runs (default 5) and its peak RSS the largest `ru_maxrss` that
//! `wait4` reports for the child. Ratios: speed-up is Nix's time over ours
//! (at least 2 is the target), memory is our RSS over Nix's (at most 1).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

struct Options {
    runs: usize,
    cases: Vec<String>,
    b8g: Option<PathBuf>,
}

const CASES: &[&str] = &["fib", "fold", "overlays", "minimal"];

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        runs: 5,
        cases: Vec::new(),
        b8g: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value(a)?.parse().context("--runs")?,
            "--b8g" => o.b8g = Some(PathBuf::from(value(a)?)),
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask bench eval [--runs N] [--b8g PATH] [CASE...]\n\
                     cases: {}",
                    CASES.join(" ")
                );
                std::process::exit(0);
            }
            c if CASES.contains(&c) => o.cases.push(c.to_string()),
            other => bail!("unknown option or case {other:?} (try --help)"),
        }
    }
    ensure!(o.runs > 0, "--runs must be at least 1");
    if o.cases.is_empty() {
        o.cases = CASES.iter().map(|c| c.to_string()).collect();
    }
    Ok(o)
}

/// One finished run of a child process.
struct Sample {
    wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss` on Linux).
    maxrss_kib: i64,
    stdout: String,
    stderr: String,
    success: bool,
}

/// Runs `cmd` to completion, reaping it with `wait4` to get its own rusage.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let err_file = tempfile_path("stderr");
    let err_out = std::fs::File::create(&err_file)
        .with_context(|| format!("cannot create {}", err_file.display()))?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err_out)
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .context("child stdout is piped")?
        .read_to_string(&mut stdout)
        .context("cannot read the child's output")?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, fully written by a successful wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unreaped child; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    ensure!(
        r == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
    let _ = std::fs::remove_file(&err_file);
    Ok(Sample {
        wall,
        maxrss_kib: usage.ru_maxrss,
        stdout,
        stderr,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    })
}

fn tempfile_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("b8g-bench-eval-{}-{what}", std::process::id()))
}

/// Builds the release `b8g` and returns its path.
fn build_b8g(root: &Path) -> Result<PathBuf> {
    crate::run(
        crate::cargo()
            .args(["build", "--release", "-p", "b8g-cli", "--bin", "b8g"])
            .current_dir(root),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let bin = target.join("release/b8g");
    ensure!(bin.exists(), "{} was not built", bin.display());
    Ok(bin)
}

/// The `--arg` pairs of a case (only `minimal` takes any).
fn case_args(case: &str, root: &Path, b8g_bin: &Path) -> Vec<String> {
    if case != "minimal" {
        return Vec::new();
    }
    let mut v = Vec::new();
    for (name, path) in [
        ("recipes", root.join("recipes")),
        ("config", root.join("images/minimal.nix")),
        ("b8gBin", b8g_bin.to_path_buf()),
    ] {
        v.push("--arg".to_string());
        v.push(name.to_string());
        v.push(path.to_string_lossy().into_owned());
    }
    v
}

/// The directory passed as `b8gBin`: the workspace's static binaries if
/// `cargo xtask test` built them, else a small stand-in (evaluation only
/// hashes it into a store path; both tools get the same one).
fn b8g_bin_dir(root: &Path, scratch: &Path) -> Result<PathBuf> {
    let built = root.join("target/b8g-bin");
    if built.join("bin/b8g-init").exists() {
        return Ok(built);
    }
    let dir = scratch.join("b8g-bin");
    std::fs::create_dir_all(dir.join("bin")).context("cannot create the b8gBin stand-in")?;
    for name in ["b8g-init", "b8gctl"] {
        std::fs::write(
            dir.join("bin").join(name),
            format!("stand-in for {name} (eval benchmark)\n"),
        )
        .context("cannot write the b8gBin stand-in")?;
    }
    Ok(dir)
}

struct Side {
    median: Duration,
    maxrss_kib: i64,
}

fn time_side(mut make: impl FnMut() -> Command, runs: usize) -> Result<Side> {
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let s = measure(&mut make())?;
        ensure!(s.success, "run failed:\n{}", s.stderr);
        walls.push(s.wall);
        rss = rss.max(s.maxrss_kib);
    }
    walls.sort();
    Ok(Side {
        median: walls[walls.len() / 2],
        maxrss_kib: rss,
    })
}

/// Entry point, wired to `cargo xtask bench eval`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let root = crate::root();
    let b8g = match &opts.b8g {
        Some(p) => p.clone(),
        None => build_b8g(&root)?,
    };
    let scratch = tempfile_path("scratch");
    std::fs::create_dir_all(&scratch).context("cannot create the scratch directory")?;
    let result = run_cases(&opts, &root, &b8g, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_cases(opts: &Options, root: &Path, b8g: &Path, scratch: &Path) -> Result<()> {
    let bench_dir = root.join("testdata/eval/bench");
    let bin_dir = b8g_bin_dir(root, scratch)?;
    let nix_state = scratch.join("nix-state");
    let ours = |file: &Path, extra: &[String]| {
        let mut c = Command::new(b8g);
        // Nix's store directory, so that store paths compare equal.
        c.args(["--store-dir", "/nix/store", "eval", "--strict"])
            .arg(file)
            .args(extra);
        c.env_remove("NIX_PATH");
        c
    };
    let nix = |file: &Path, extra: &[String]| {
        let mut c = Command::new("nix-instantiate");
        c.args(["--eval", "--strict", "--store", "dummy://"])
            .arg(file)
            .args(extra)
            .env("NIX_STATE_DIR", &nix_state)
            .env_remove("NIX_PATH");
        c
    };
    let mut rows = Vec::new();
    for case in &opts.cases {
        let file = bench_dir.join(format!("{case}.nix"));
        let extra = case_args(case, root, &bin_dir);
        // Outputs must agree before timing means anything.
        let a = measure(&mut ours(&file, &extra))?;
        let b = measure(&mut nix(&file, &extra)).context(
            "cannot run nix-instantiate: install the nix-bin package (apt-get install nix-bin)",
        )?;
        ensure!(b.success, "{case}: nix-instantiate failed:\n{}", b.stderr);
        ensure!(a.success, "{case}: b8g eval failed:\n{}", a.stderr);
        ensure!(
            a.stdout == b.stdout,
            "{case}: outputs differ\n b8g: {}\n nix: {}",
            a.stdout.trim_end(),
            b.stdout.trim_end()
        );
        eprintln!("{case}: outputs agree ({})", short(&a.stdout));
        let ours_side = time_side(|| ours(&file, &extra), opts.runs)?;
        let nix_side = time_side(|| nix(&file, &extra), opts.runs)?;
        let speedup = nix_side.median.as_secs_f64() / ours_side.median.as_secs_f64();
        let mem = ours_side.maxrss_kib as f64 / nix_side.maxrss_kib.max(1) as f64;
        println!(
            "{case:<10} b8g {:>8.3} s {:>8} KiB | nix {:>8.3} s {:>8} KiB | speed-up {:>5.2}x{} | memory {:>5.2}x{}",
            ours_side.median.as_secs_f64(),
            ours_side.maxrss_kib,
            nix_side.median.as_secs_f64(),
            nix_side.maxrss_kib,
            speedup,
            if speedup >= 2.0 { "  " } else { " !" },
            mem,
            if mem <= 1.0 { "" } else { " !" },
        );
        rows.push((case.clone(), speedup, mem));
    }
    let missed: Vec<String> = rows
        .iter()
        .filter(|(_, s, m)| *s < 2.0 || *m > 1.0)
        .map(|(c, _, _)| c.clone())
        .collect();
    println!(
        "median of {} runs; target: speed-up >= 2x and memory <= 1x; {}",
        opts.runs,
        if missed.is_empty() {
            "all cases meet it".to_string()
        } else {
            format!("not met by: {}", missed.join(", "))
        }
    );
    Ok(())
}

fn short(s: &str) -> String {
    let s = s.trim_end();
    if s.len() > 70 {
        let mut end = 70;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}
