//! `cargo xtask bench eval`: b8g's evaluator against `nix-instantiate --eval
//! --strict`, in the same run, on the same expressions (issue 3).
//!
//! The cases live in `testdata/eval/bench/`: (a) `fib.nix`, naive Fibonacci
//! of 30; (b) `fold.nix`, building and folding a 200 000-element list and
//! attribute set; (c) `overlays.nix`, 50 overlays over a 2 000-attribute
//! package set with `fix`/`extends`, half of them rewriting every package;
//! `overlays-small.nix`, nixpkgs' shape: 400 overlays of a couple of packages
//! each over 20 000; (d) `minimal.nix`, the drvPath of
//! `images/minimal.nix`'s system toplevel through `recipes/eval-config.nix`;
//! `minimal10` evaluates ten such systems in one process (see `MINIMAL10`),
//! since one takes little more than process start-up; (e) `modules.nix`, a
//! generated module-system configuration at NixOS scale (200 modules, 2 000
//! options) through `recipes/lib`, to a toplevel derivation.
//!
//! `par10` selects ten such systems with ten `-A` in one `nix-instantiate`
//! (b8g under that name), which evaluates independent attributes on all
//! cores: judged by wall time against b8g itself on one thread
//! (`B8G_EVAL_THREADS=1`), after checking both print what Nix prints.
//! `reclaim` (`reclaim.nix`) makes and drops a 1 000 000-element structure
//! held in a reference cycle 4 times, then 16 times, in one evaluation, under
//! each tool: judged by the growth of b8g's peak memory from 4 rounds to 16
//! (at most 2x, where keeping every round takes 4x), once each, outputs
//! checked equal.
//! `build4` is `b8g build --dry-run` of four systems (`images/minimal.nix`,
//! `server.nix`, `webserver.nix`, and minimal with one more `/etc` file) in
//! one command, each file on its own thread, into a store that already
//! holds their sources (what a rebuild after an edit sees), judged the same
//! way after checking both print the same plan.
//!
//! With `--nixpkgs-lib DIR` (a nixpkgs checkout or its lib), `lib-modules`
//! runs that lib's own `tests/modules.sh` end to end under each tool (b8g
//! linked as `nix-instantiate`, each run with a fresh throw-away store) and
//! compares wall time, as a user running the suite sees it; no check may fail
//! under b8g that passes under Nix.
//!
//! Both tools run as users run them, as child processes: the release
//! `b8g eval --strict` (built here) and `nix-instantiate --eval --strict
//! --store dummy://` with a throw-away state directory. Their outputs must be
//! equal before anything is timed. Runs alternate between the two tools (so a
//! change in machine load hits both alike); each side's time is the median of
//! `--runs` runs (default 5, at least 3) of the child's CPU time (user +
//! system, from `wait4`), which a loaded machine disturbs far less than wall
//! time; the median wall time is printed too. Peak RSS is the largest
//! `ru_maxrss` that `wait4` reports for the child. Ratios: speed-up is Nix's
//! time over ours (at least 2 is the target), memory is our RSS over Nix's
//! (at most 0.5).
//!
//! Each case also runs `true`-like start-up alone (`-E null`) so the table
//! shows how much of a case is process start-up rather than evaluation.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

struct Options {
    runs: usize,
    cases: Vec<String>,
    b8g: Option<PathBuf>,
    nixpkgs_lib: Option<PathBuf>,
}

const CASES: &[&str] = &[
    "fib",
    "fold",
    "overlays",
    "overlays-small",
    "minimal",
    "minimal10",
    "modules",
    "par10",
    "build4",
    "reclaim",
];

/// The targets: at least this speed-up over Nix, at most this share of its peak memory.
const SPEED_TARGET: f64 = 2.0;
const MEMORY_TARGET: f64 = 0.5;

/// `minimal10`: ten systems like `images/minimal.nix`, each with its own
/// package set and one extra `/etc` file (so each toplevel differs), in one
/// process. One `minimal` evaluation takes little more than process
/// start-up for either tool; ten show the evaluators' own speed.
const MINIMAL10: &str = r#"{ recipes, config, b8gBin }:
builtins.genList (i: (import (recipes + "/eval-config.nix") {
  modules = [ config { environment.etc."bench-${toString i}".text = "${toString i}\n"; } ];
  pkgs = import (recipes + "/pkgs") { inherit b8gBin; };
}).config.system.build.toplevel.drvPath) 10"#;

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        runs: 5,
        cases: Vec::new(),
        b8g: None,
        nixpkgs_lib: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value(a)?.parse().context("--runs")?,
            "--b8g" => o.b8g = Some(PathBuf::from(value(a)?)),
            "--nixpkgs-lib" => o.nixpkgs_lib = Some(PathBuf::from(value(a)?)),
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask bench eval [--runs N] [--b8g PATH] [--nixpkgs-lib DIR] [CASE...]\n\
                     cases: {} (and lib-modules, with --nixpkgs-lib)",
                    CASES.join(" ")
                );
                std::process::exit(0);
            }
            c if CASES.contains(&c) => o.cases.push(c.to_string()),
            other => bail!("unknown option or case {other:?} (try --help)"),
        }
    }
    ensure!(
        o.runs >= 3,
        "--runs must be at least 3 (the median of fewer means little)"
    );
    if o.cases.is_empty() {
        o.cases = CASES.iter().map(|c| c.to_string()).collect();
    }
    Ok(o)
}

/// One finished run of a child process.
struct Sample {
    wall: Duration,
    /// User plus system CPU time of the child.
    cpu: Duration,
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
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
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

/// The `--arg` pairs of a case (`minimal`, `minimal10` and `modules` take some).
fn case_args(case: &str, root: &Path, b8g_bin: &Path) -> Vec<String> {
    let args = match case {
        "modules" => vec![("recipes", root.join("recipes"))],
        c if c.starts_with("minimal") || c == "par10" => vec![
            ("recipes", root.join("recipes")),
            ("config", root.join("images/minimal.nix")),
            ("b8gBin", b8g_bin.to_path_buf()),
        ],
        _ => return Vec::new(),
    };
    let mut v = Vec::new();
    for (name, path) in args {
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

#[derive(Default)]
struct Side {
    cpus: Vec<Duration>,
    walls: Vec<Duration>,
    maxrss_kib: i64,
}

impl Side {
    fn add(&mut self, s: &Sample) {
        self.cpus.push(s.cpu);
        self.walls.push(s.wall);
        self.maxrss_kib = self.maxrss_kib.max(s.maxrss_kib);
    }
    fn cpu(&self) -> Duration {
        median(&self.cpus)
    }
    fn wall(&self) -> Duration {
        median(&self.walls)
    }
    /// `cpu (wall) RSS` as the table shows them.
    fn columns(&self) -> String {
        format!(
            "{:>6.3} ({:>6.3}) {:>8}",
            self.cpu().as_secs_f64(),
            self.wall().as_secs_f64(),
            self.maxrss_kib
        )
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs both tools `runs` times, alternating; `check` judges every run
/// (`true`: it was ours).
fn time_both(
    mut ours: impl FnMut() -> Command,
    mut nix: impl FnMut() -> Command,
    runs: usize,
    check: impl Fn(&Sample, bool) -> Result<()>,
) -> Result<(Side, Side)> {
    let (mut a, mut b) = (Side::default(), Side::default());
    for i in 0..runs {
        // Alternate which tool goes first, too.
        let order: [bool; 2] = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for first_ours in order {
            let s = measure(&mut if first_ours { ours() } else { nix() })?;
            check(&s, first_ours)?;
            if first_ours {
                a.add(&s)
            } else {
                b.add(&s)
            }
        }
    }
    Ok((a, b))
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

/// What a case evaluates: a file under `testdata/eval/bench` (with `--arg`s)
/// or, for the start-up row, an expression.
enum Input {
    File(PathBuf, Vec<String>),
    Expr(&'static str),
    ExprArgs(&'static str, Vec<String>),
}

impl Input {
    fn add_to(&self, c: &mut Command) {
        match self {
            Input::File(f, extra) => c.arg(f).args(extra),
            Input::Expr(e) => c.args(["-E", e]),
            Input::ExprArgs(e, extra) => c.args(["-E", e]).args(extra),
        };
    }
}

fn run_cases(opts: &Options, root: &Path, b8g: &Path, scratch: &Path) -> Result<()> {
    let bench_dir = root.join("testdata/eval/bench");
    let bin_dir = b8g_bin_dir(root, scratch)?;
    let nix_state = scratch.join("nix-state");
    let ours = |input: &Input| {
        let mut c = Command::new(b8g);
        // Nix's store directory, so that store paths compare equal.
        c.args(["--store-dir", "/nix/store", "eval", "--strict"]);
        input.add_to(&mut c);
        c.env_remove("NIX_PATH");
        c
    };
    let nix = |input: &Input| {
        let mut c = Command::new("nix-instantiate");
        c.args(["--eval", "--strict", "--store", "dummy://"]);
        input.add_to(&mut c);
        c.env("NIX_STATE_DIR", &nix_state).env_remove("NIX_PATH");
        c
    };
    let mut cases: Vec<(String, Input)> = vec![(
        "start-up".to_string(),
        // Process start-up and tear-down alone, for scale: not a target.
        Input::Expr("null"),
    )];
    // par10 and build4 are timed against ourselves, after the table.
    for case in opts
        .cases
        .iter()
        .filter(|c| !PARALLEL_CASES.contains(&c.as_str()))
    {
        let args = case_args(case, root, &bin_dir);
        let input = if case == "minimal10" {
            Input::ExprArgs(MINIMAL10, args)
        } else {
            Input::File(bench_dir.join(format!("{case}.nix")), args)
        };
        cases.push((case.clone(), input));
    }
    println!(
        "{:<10} {:>24} | {:>24} | {:>9} | {:>8} | {:>7}",
        "case",
        "b8g cpu s (wall) RSS KiB",
        "nix cpu s (wall) RSS KiB",
        "speed-up",
        "wall",
        "memory"
    );
    let mut rows = Vec::new();
    for (case, input) in &cases {
        // Outputs must agree before timing means anything.
        let a = measure(&mut ours(input))?;
        let b = measure(&mut nix(input)).context(
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
        let (o, n) = time_both(
            || ours(input),
            || nix(input),
            opts.runs,
            |s, _| {
                ensure!(s.success, "run failed:\n{}", s.stderr);
                Ok(())
            },
        )?;
        let target = case != "start-up";
        rows.extend(print_row(case, &o, &n, false).filter(|_| target));
    }
    let mut par = Vec::new();
    if opts.cases.iter().any(|c| c == "par10") {
        par.push(("par10", par10(root, b8g, &bin_dir, scratch, opts.runs)?));
    }
    if opts.cases.iter().any(|c| c == "build4") {
        par.push(("build4", build4(root, b8g, &bin_dir, scratch, opts.runs)?));
    }
    let mut unbounded = false;
    if opts.cases.iter().any(|c| c == "reclaim") {
        unbounded = !reclaim(&bench_dir, &ours, &nix)?;
    }
    if let Some(dir) = &opts.nixpkgs_lib {
        let (o, n) = lib_modules(dir, b8g, scratch, opts.runs)?;
        rows.extend(print_row("lib-modules", &o, &n, true));
    }
    let mut missed: Vec<String> = rows
        .iter()
        .filter(|(_, s, m)| *s < SPEED_TARGET || *m > MEMORY_TARGET)
        .map(|(c, _, _)| c.clone())
        .collect();
    for (case, ratio) in par {
        if ratio < PARALLEL_TARGET {
            missed.push(case.into());
        }
    }
    if unbounded {
        missed.push("reclaim".into());
    }
    println!(
        "median of {} alternating runs; speed-up = nix CPU time / b8g CPU time (wall: the same for wall time;\n\
         lib-modules is judged on wall time); memory = b8g peak RSS / nix peak RSS;\n\
         target: speed-up >= {SPEED_TARGET}x and memory <= {MEMORY_TARGET}x (par10, build4: wall time >= {PARALLEL_TARGET}x\n\
         our own on one thread; reclaim: peak memory over 16 rounds <= {RECLAIM_GROWTH}x that over 4); {}",
        opts.runs,
        if missed.is_empty() {
            "all cases meet it".to_string()
        } else {
            format!("not met by: {}", missed.join(", "))
        }
    );
    Ok(())
}

/// The cases judged against b8g itself on one thread.
const PARALLEL_CASES: &[&str] = &["par10", "build4", "reclaim"];

/// `par10`: what parallel evaluation must give over one thread (on 2 cores).
const PARALLEL_TARGET: f64 = 1.6;

/// `par10`'s file: ten systems as attributes, for `-A sys0 … -A sys9`.
const PAR10: &str = r#"{ recipes, config, b8gBin }:
builtins.listToAttrs (builtins.genList (i: {
  name = "sys${toString i}";
  value = (import (recipes + "/eval-config.nix") {
    modules = [ config { environment.etc."bench-${toString i}".text = "${toString i}\n"; } ];
    pkgs = import (recipes + "/pkgs") { inherit b8gBin; };
  }).config.system.build.toplevel.drvPath;
}) 10)"#;

/// `par10`: ten systems selected by ten `-A` in one `nix-instantiate --eval
/// --strict` (b8g linked under that name), evaluated on all cores against the
/// same on one thread (`B8G_EVAL_THREADS=1`), by wall time; the output must be
/// Nix's. Returns the wall-time ratio.
fn par10(root: &Path, b8g: &Path, bin_dir: &Path, scratch: &Path, runs: usize) -> Result<f64> {
    let file = scratch.join("par10.nix");
    std::fs::write(&file, PAR10).context("cannot write par10.nix")?;
    let shim = crate::compat::nix_instantiate_shim(b8g, &scratch.join("par10-bin"))?;
    let nix_state = scratch.join("par10-nix-state");
    let command = |program: &Path, threads: Option<&str>| {
        let mut c = Command::new(program);
        c.args(["--eval", "--strict", "--store", "dummy://"])
            .arg(&file)
            .args(case_args("par10", root, bin_dir));
        for i in 0..10 {
            c.arg("-A").arg(format!("sys{i}"));
        }
        // b8g's store directory as Nix's, so that the paths compare equal.
        c.env("NIX_STATE_DIR", &nix_state)
            .env("B8G_STORE_DIR", "/nix/store")
            .env_remove("NIX_PATH");
        match threads {
            Some(n) => c.env("B8G_EVAL_THREADS", n),
            None => c.env_remove("B8G_EVAL_THREADS"),
        };
        c
    };
    let ours = shim.join("nix-instantiate");
    let all = measure(&mut command(&ours, None))?;
    let one = measure(&mut command(&ours, Some("1")))?;
    let nix = measure(&mut command(Path::new("nix-instantiate"), None))?;
    for (who, s) in [("b8g", &all), ("b8g on one thread", &one), ("nix", &nix)] {
        ensure!(s.success, "par10: {who} failed:\n{}", s.stderr);
    }
    ensure!(
        all.stdout == nix.stdout && one.stdout == nix.stdout,
        "par10: outputs differ\n b8g: {}\n b8g on one thread: {}\n nix: {}",
        short(&all.stdout),
        short(&one.stdout),
        short(&nix.stdout)
    );
    eprintln!(
        "par10: outputs agree, and with Nix's ({})",
        short(&all.stdout)
    );
    against_one_thread(
        "par10",
        || command(&ours, None),
        || command(&ours, Some("1")),
        runs,
    )
}

/// `reclaim`: how much more peak memory 16 rounds may take than 4 (keeping
/// every round takes 4 times as much; Nix 2.8 takes about 1.4 times).
const RECLAIM_GROWTH: f64 = 2.0;

/// `reclaim`: `reclaim.nix` with 4 and with 16 rounds under each tool, once
/// each (peak memory varies little), outputs checked equal. Returns whether
/// b8g's peak memory stayed within `RECLAIM_GROWTH`.
fn reclaim(
    bench_dir: &Path,
    ours: &dyn Fn(&Input) -> Command,
    nix: &dyn Fn(&Input) -> Command,
) -> Result<bool> {
    let file = bench_dir.join("reclaim.nix");
    let mut peaks = Vec::new();
    for rounds in [4, 16] {
        let input = Input::File(
            file.clone(),
            vec!["--arg".into(), "n".into(), rounds.to_string()],
        );
        let o = measure(&mut ours(&input))?;
        let n = measure(&mut nix(&input))?;
        ensure!(
            o.success && n.success,
            "reclaim: a tool failed:\n{}{}",
            o.stderr,
            n.stderr
        );
        ensure!(
            o.stdout == n.stdout,
            "reclaim: outputs differ\n b8g: {}\n nix: {}",
            short(&o.stdout),
            short(&n.stdout)
        );
        peaks.push((o.maxrss_kib, n.maxrss_kib));
    }
    let growth = |a: i64, b: i64| b as f64 / a.max(1) as f64;
    let ours_growth = growth(peaks[0].0, peaks[1].0);
    let bounded = ours_growth <= RECLAIM_GROWTH;
    println!(
        "{:<10} b8g peak RSS {:>8} -> {:>8} kB ({:>5.2}x{}) | nix {:>8} -> {:>8} kB ({:>5.2}x) | 4 -> 16 rounds",
        "reclaim",
        peaks[0].0,
        peaks[1].0,
        ours_growth,
        if bounded { " " } else { "!" },
        peaks[0].1,
        peaks[1].1,
        growth(peaks[0].1, peaks[1].1),
    );
    Ok(bounded)
}

/// `build4`: `b8g build --dry-run` of four systems in one command (two per
/// core on 2 cores), on all cores against one thread, by wall time, into a
/// chroot store under `scratch` that the checking runs fill with the
/// systems' sources. Both must print the same plan. Returns the wall-time ratio.
fn build4(root: &Path, b8g: &Path, bin_dir: &Path, scratch: &Path, runs: usize) -> Result<f64> {
    let store = scratch.join("build4-store");
    let variant = scratch.join("minimal-variant.nix");
    std::fs::write(
        &variant,
        format!(
            "{{ imports = [ {} ]; environment.etc.\"bench-variant\".text = \"variant\\n\"; }}\n",
            root.join("images/minimal.nix").display()
        ),
    )
    .context("cannot write minimal-variant.nix")?;
    let command = |threads: Option<&str>| {
        let mut c = Command::new(b8g);
        c.args([
            "--store-dir",
            "/b8g/store",
            "--state-dir",
            "/b8g/var/b8g",
            "--root",
        ])
        .arg(&store)
        .args(["build", "-q", "--dry-run", "--b8g-bin"])
        .arg(bin_dir)
        .arg("--recipes")
        .arg(root.join("recipes"));
        for image in ["minimal", "server", "webserver"] {
            c.arg(root.join("images").join(format!("{image}.nix")));
        }
        c.arg(&variant);
        c.env("B8G_CONF", scratch.join("no-such.conf"))
            .env_remove("B8G_STORE_DIR")
            .env_remove("B8G_STATE_DIR")
            .env_remove("B8G_STORE_ROOT");
        match threads {
            Some(n) => c.env("B8G_EVAL_THREADS", n),
            None => c.env_remove("B8G_EVAL_THREADS"),
        };
        c
    };
    let all = measure(&mut command(None))?;
    let one = measure(&mut command(Some("1")))?;
    for (who, s) in [("b8g", &all), ("b8g on one thread", &one)] {
        ensure!(s.success, "build4: {who} failed:\n{}", s.stderr);
    }
    ensure!(
        all.stderr == one.stderr && all.stderr.contains("b8g-system-webserver.drv"),
        "build4: plans differ\n all cores: {}\n one thread: {}",
        short(&all.stderr),
        short(&one.stderr)
    );
    eprintln!("build4: plans agree ({} lines)", all.stderr.lines().count());
    against_one_thread("build4", || command(None), || command(Some("1")), runs)
}

/// Times a parallel case (`all`) against the same on one thread (`one`),
/// prints its row and returns the wall-time ratio.
fn against_one_thread(
    case: &str,
    all: impl FnMut() -> Command,
    one: impl FnMut() -> Command,
    runs: usize,
) -> Result<f64> {
    let (a, b) = time_both(all, one, runs, |s, _| {
        ensure!(s.success, "{case} run failed:\n{}", s.stderr);
        Ok(())
    })?;
    let ratio = b.wall().as_secs_f64() / a.wall().as_secs_f64().max(1e-6);
    println!(
        "{:<10} {} | one thread: {} | wall {:>5.2}x{} | cpu {:>5.2}x",
        case,
        a.columns(),
        b.columns(),
        ratio,
        if ratio >= PARALLEL_TARGET { " " } else { "!" },
        b.cpu().as_secs_f64() / a.cpu().as_secs_f64().max(1e-6),
    );
    Ok(ratio)
}

/// Prints one table row; returns the case with its judged speed-up (CPU, or
/// wall time when `by_wall`) and memory ratio.
fn print_row(case: &str, o: &Side, n: &Side, by_wall: bool) -> Option<(String, f64, f64)> {
    let speedup = n.cpu().as_secs_f64() / o.cpu().as_secs_f64().max(1e-6);
    let wall_speedup = n.wall().as_secs_f64() / o.wall().as_secs_f64().max(1e-6);
    let mem = o.maxrss_kib as f64 / n.maxrss_kib.max(1) as f64;
    let judged = if by_wall { wall_speedup } else { speedup };
    let mark = |ok: bool| if ok { " " } else { "!" };
    println!(
        "{case:<10} {} | {} | {:>7.2}x{} | {:>7.2}x{} | {:>6.2}x{}",
        o.columns(),
        n.columns(),
        speedup,
        mark(by_wall || case == "start-up" || speedup >= SPEED_TARGET),
        wall_speedup,
        mark(!by_wall || wall_speedup >= SPEED_TARGET),
        mem,
        mark(case == "start-up" || mem <= MEMORY_TARGET),
    );
    Some((case.to_string(), judged, mem))
}

/// `lib-modules`: nixpkgs lib's `tests/modules.sh` under each tool, every run
/// with fresh stores. Checked first: both run to the end, and every check that
/// fails under b8g also fails under Nix.
fn lib_modules(dir: &Path, b8g: &Path, scratch: &Path, runs: usize) -> Result<(Side, Side)> {
    let lib = crate::compat::runnable_lib(dir, scratch)?;
    let shim = crate::compat::nix_instantiate_shim(b8g, &scratch.join("lib-modules-bin"))?;
    let nix_bin = crate::compat::which("nix-instantiate")?
        .parent()
        .context("nix-instantiate has no directory")?
        .to_owned();
    let stores = scratch.join("lib-modules-stores");
    let mut serial = 0;
    let mut run = |bin: &Path| {
        serial += 1;
        let store = stores.join(serial.to_string());
        let mut c = Command::new("bash");
        c.arg(lib.join("tests/modules.sh"));
        crate::compat::with_tool(c, bin, &store)
    };
    let outcome =
        |s: &Sample| crate::compat::modules_outcome(&format!("{}\n{}", s.stdout, s.stderr));
    let a = outcome(&measure(&mut run(&shim))?);
    let b = outcome(&measure(&mut run(&nix_bin))?);
    for (tool, o) in [("b8g", &a), ("nix", &b)] {
        if let Some(why) = &o.broken {
            bail!("lib-modules: modules.sh did not run to its end under {tool}: {why}");
        }
    }
    let only_ours: Vec<_> = a.failures.difference(&b.failures).collect();
    ensure!(
        only_ours.is_empty(),
        "lib-modules: checks failing under b8g only: {only_ours:?}"
    );
    eprintln!(
        "lib-modules: modules.sh ran to its end under both (b8g {} passed, {} failed; nix {} passed, {} failed)",
        a.passed, a.failed, b.passed, b.failed
    );
    let sides = std::cell::RefCell::new(run);
    let result = time_both(
        || (sides.borrow_mut())(&shim),
        || (sides.borrow_mut())(&nix_bin),
        runs,
        |s, ours| {
            let o = outcome(s);
            let expected = if ours { &a } else { &b };
            ensure!(
                o.broken.is_none() && o.passed == expected.passed,
                "lib-modules: a run's outcome changed ({} passed, {} failed)",
                o.passed,
                o.failed
            );
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(&stores);
    result
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
