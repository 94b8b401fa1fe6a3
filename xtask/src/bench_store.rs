//! `cargo xtask bench store`: NAR hashing and verification speed against the peers.
//!
//! Generates two data sets under a temporary directory, (a) about 1 GiB of
//! mixed files of 100 B to 8 MiB and (b) 100 000 small files, and times, in
//! the same run and on the same (page-cached) bytes:
//! - our NAR hash (`b8g_store::nar_fs::hash_path`, release build) against
//!   `nix hash path`, which must print the same hash;
//! - on (a), against `openssl dgst -sha256` over all file contents concatenated
//!   into one file (the speed of plain reading and hashing);
//! - `b8g store verify --check-contents` against `nix-store --verify
//!   --check-contents` over 2000 store paths, when the `b8g` binary has that
//!   command.
//!
//! Each timing is the best of `--runs` runs (default 3). Ratios are printed as
//! "peer time / our time", so above 1 means we are faster. The bench re-runs
//! itself as a release build when started from a debug one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use b8g_store::format::hash::HashAlgo;
use b8g_store::nar_fs;

const REEXEC_ENV: &str = "B8G_BENCH_STORE_RELEASE";

struct Options {
    mixed_bytes: u64,
    small_files: usize,
    verify_paths: usize,
    runs: usize,
    dir: Option<PathBuf>,
    keep: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        mixed_bytes: 1 << 30,
        small_files: 100_000,
        verify_paths: 2000,
        runs: 3,
        dir: None,
        keep: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--mixed-mib" => o.mixed_bytes = value(a)?.parse::<u64>().context("--mixed-mib")? << 20,
            "--small-files" => o.small_files = value(a)?.parse().context("--small-files")?,
            "--verify-paths" => o.verify_paths = value(a)?.parse().context("--verify-paths")?,
            "--runs" => o.runs = value(a)?.parse().context("--runs")?,
            "--dir" => o.dir = Some(PathBuf::from(value(a)?)),
            "--keep" => o.keep = true,
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask bench store [--mixed-mib N] [--small-files N] [--verify-paths N] [--runs N] [--dir DIR] [--keep]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?} (try --help)"),
        }
    }
    ensure!(o.runs > 0, "--runs must be at least 1");
    Ok(o)
}

/// Entry point, wired to `cargo xtask bench store`.
pub fn run(args: &[String]) -> Result<()> {
    if cfg!(debug_assertions) && std::env::var_os(REEXEC_ENV).is_none() {
        // Timing a debug build of our code would say nothing about its speed.
        eprintln!("bench store: re-running as a release build");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("workspace root")?;
        let status = Command::new(cargo)
            .current_dir(root)
            .args([
                "run",
                "--release",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "bench",
                "store",
            ])
            .args(args)
            .env(REEXEC_ENV, "1")
            .status()
            .context("cannot start cargo")?;
        ensure!(status.success(), "release bench failed with {status}");
        return Ok(());
    }
    let o = parse_args(args)?;
    for (tool, package) in [
        ("nix", "nix-bin"),
        ("nix-store", "nix-bin"),
        ("openssl", "openssl"),
    ] {
        ensure!(
            which(tool).is_some(),
            "`{tool}` is not installed: apt-get install {package} (the bench compares against it)"
        );
    }
    let base = match &o.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("b8g-bench-store-{}", std::process::id())),
    };
    fs::create_dir_all(&base).with_context(|| format!("cannot create {base:?}"))?;
    let result = bench(&o, &base);
    if !o.keep && o.dir.is_none() {
        let _ = fs::remove_dir_all(&base);
    }
    result
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// Fast deterministic bytes (xorshift64), so nothing compresses or dedups.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    /// Log-uniform in [lo, hi].
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let f = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let v = ((lo as f64).ln() + f * ((hi as f64).ln() - (lo as f64).ln())).exp();
        (v as u64).clamp(lo, hi)
    }
}

/// (a): mixed files, 100 B to 8 MiB, log-uniform, 64 per directory; also
/// writes all contents concatenated to `concat`. Returns (files, bytes).
fn gen_mixed(root: &Path, total: u64, concat: &Path) -> Result<(usize, u64)> {
    fs::create_dir_all(root)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut all = fs::File::create(concat)?;
    let mut buf = vec![0u8; 8 << 20];
    let (mut files, mut bytes) = (0usize, 0u64);
    while bytes < total {
        let size = rng.log_uniform(100, 8 << 20) as usize;
        let dir = root.join(format!("d{:03}", files / 64));
        if files % 64 == 0 {
            fs::create_dir_all(&dir)?;
        }
        rng.fill(&mut buf[..size]);
        fs::write(dir.join(format!("f{files:05}")), &buf[..size])?;
        all.write_all(&buf[..size])?;
        files += 1;
        bytes += size as u64;
    }
    Ok((files, bytes))
}

/// (b): `n` small files of 10 B to 4 KiB, 100 per directory, some executable.
fn gen_small(root: &Path, n: usize) -> Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(root)?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = vec![0u8; 4096];
    let mut bytes = 0;
    for i in 0..n {
        let dir = root.join(format!("d{:04}", i / 100));
        if i % 100 == 0 {
            fs::create_dir_all(&dir)?;
        }
        let size = rng.log_uniform(10, 4096) as usize;
        rng.fill(&mut buf[..size]);
        let path = dir.join(format!("file-{i}.txt"));
        fs::write(&path, &buf[..size])?;
        if i % 10 == 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        bytes += size as u64;
    }
    Ok(bytes)
}

/// Best wall time of `runs` runs of `f`, and the last result.
fn best<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed());
        last = Some(v);
    }
    Ok((best, last.expect("runs > 0")))
}

fn command_output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn nix_cmd(base: &Path, program: &str) -> Command {
    let mut c = Command::new(program);
    // A private store root: the bench never touches the host's /nix.
    c.env(
        "NIX_REMOTE",
        format!("local?root={}", base.join("nix-root").display()),
    )
    .env(
        "NIX_CONFIG",
        "experimental-features = nix-command\nsubstituters =\n",
    );
    c
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn report(what: &str, ours: Duration, peer_name: &str, peer: Duration, target: &str, ok: bool) {
    let ratio = peer.as_secs_f64() / ours.as_secs_f64();
    println!(
        "{what}: b8g {} vs {peer_name} {}: {ratio:.2}x (target {target}) {}",
        secs(ours),
        secs(peer),
        if ok { "MET" } else { "NOT MET" }
    );
}

fn compare_hash(base: &Path, path: &Path, runs: usize) -> Result<(Duration, Duration)> {
    let (ours, (h, _)) = best(runs, || Ok(nar_fs::hash_path(path, HashAlgo::Sha256)?))?;
    let (theirs, printed) = best(runs, || {
        command_output(
            nix_cmd(base, "nix")
                .args(["hash", "path", "--base32"])
                .arg(path),
        )
    })?;
    ensure!(
        h.to_nix32() == printed,
        "hash mismatch on {path:?}: b8g {} vs nix {printed}",
        h.to_nix32()
    );
    Ok((ours, theirs))
}

fn bench(o: &Options, base: &Path) -> Result<()> {
    let mixed = base.join("mixed");
    let small = base.join("small");
    let concat = base.join("mixed-concatenated");
    eprintln!("generating data under {base:?} ...");
    let t = Instant::now();
    let (files, bytes) = gen_mixed(&mixed, o.mixed_bytes, &concat)?;
    let small_bytes = gen_small(&small, o.small_files)?;
    eprintln!("generated in {}", secs(t.elapsed()));
    println!(
        "data: (a) {files} files, {:.2} GiB, 100 B to 8 MiB; (b) {} files, {:.1} MiB; best of {} runs, page cache warm",
        bytes as f64 / (1u64 << 30) as f64,
        o.small_files,
        small_bytes as f64 / (1u64 << 20) as f64,
        o.runs
    );

    let (ours_a, nix_a) = compare_hash(base, &mixed, o.runs)?;
    report(
        "(a) NAR hash, mixed files",
        ours_a,
        "nix hash path",
        nix_a,
        ">= 1.25x",
        nix_a.as_secs_f64() >= 1.25 * ours_a.as_secs_f64(),
    );
    let (ssl, _) = best(o.runs, || {
        command_output(
            Command::new("openssl")
                .args(["dgst", "-sha256"])
                .arg(&concat),
        )
    })?;
    let slower = ours_a.as_secs_f64() / ssl.as_secs_f64();
    println!(
        "(a) NAR hash vs plain sha256 of the same bytes: b8g {} vs openssl dgst -sha256 {}: b8g takes {slower:.2}x openssl's time (target <= 1.15x) {}",
        secs(ours_a),
        secs(ssl),
        if slower <= 1.15 { "MET" } else { "NOT MET" }
    );
    let (ours_b, nix_b) = compare_hash(base, &small, o.runs)?;
    report(
        "(b) NAR hash, small files",
        ours_b,
        "nix hash path",
        nix_b,
        ">= 1.5x",
        nix_b.as_secs_f64() >= 1.5 * ours_b.as_secs_f64(),
    );

    bench_verify(o, base)
}

/// `b8g store verify --check-contents` against `nix-store --verify --check-contents`.
fn bench_verify(o: &Options, base: &Path) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let b8g = target_dir.join("release/b8g");
    let has_verify = b8g.is_file()
        && Command::new(&b8g)
            .args(["store", "verify", "--help"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !has_verify {
        println!(
            "verify: skipped: {b8g:?} with `store verify` is not built (cargo build --release -p b8g-cli)"
        );
        return Ok(());
    }
    verify_compare(o, base, &b8g)
}

/// Adds the same `n` small trees to a Nix store and a b8g store (both with
/// store dir /nix/store under private roots) and times a full content check.
fn verify_compare(o: &Options, base: &Path, b8g: &Path) -> Result<()> {
    let src = base.join("verify-src");
    fs::create_dir_all(&src)?;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut buf = vec![0u8; 64 << 10];
    let mut paths = Vec::new();
    for i in 0..o.verify_paths {
        let p = src.join(format!("obj-{i}"));
        fs::create_dir_all(p.join("sub"))?;
        for j in 0..3 {
            let size = rng.log_uniform(100, 64 << 10) as usize;
            rng.fill(&mut buf[..size]);
            fs::write(p.join("sub").join(format!("f{j}")), &buf[..size])?;
        }
        paths.push(p);
    }
    // Nix: add all, then verify.
    for chunk in paths.chunks(500) {
        command_output(nix_cmd(base, "nix-store").arg("--add").args(chunk))?;
    }
    let (nix_t, _) = best(o.runs, || {
        command_output(nix_cmd(base, "nix-store").args(["--verify", "--check-contents"]))
    })?;
    // b8g: same paths into its own store.
    let store_root = base.join("b8g-root");
    let b8g_cmd = || {
        let mut c = Command::new(b8g);
        c.env("B8G_STORE_ROOT", &store_root)
            .env("B8G_STORE_DIR", "/nix/store");
        c
    };
    for chunk in paths.chunks(500) {
        command_output(b8g_cmd().args(["store", "add"]).args(chunk))?;
    }
    let (ours_t, _) = best(o.runs, || {
        command_output(b8g_cmd().args(["store", "verify", "--check-contents"]))
    })?;
    report(
        &format!("verify --check-contents, {} paths", o.verify_paths),
        ours_t,
        "nix-store --verify --check-contents",
        nix_t,
        ">= 1.8x",
        nix_t.as_secs_f64() >= 1.8 * ours_t.as_secs_f64(),
    );
    Ok(())
}
