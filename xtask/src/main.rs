//! `cargo xtask demo|test|bench|compat|verify-debian-units`: project tasks that need more than cargo.
//!
//! Each task installs its own Debian prerequisites idempotently (it checks with
//! `dpkg-query` first and runs `apt-get` only for what is missing), so the two
//! README commands work on a fresh Debian 12 machine.

mod bench_boot;
mod bench_build;
mod bench_cache;
mod bench_eval;
mod bench_install;
mod bench_store;
mod bench_system;
mod bench_unikernel;
mod compat;
mod debian_image;
mod debian_server;
mod debian_units;
mod seeds;

use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Debian packages the test suites call as oracles or runtimes.
const TEST_PACKAGES: &[&str] = &[
    "nix-bin",
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "linux-image-amd64",
    "erofs-utils",
    "e2fsprogs",
    // `b8g install`: the EFI system partition (mkfs.fat, mtools) and the
    // UEFI firmware its disks boot through under qemu.
    "dosfstools",
    "mtools",
    "ovmf",
    "curl",
    // readelf, for the toolchain tests' store-only interpreter checks.
    "binutils",
    // Zone files: b8g-init's calendar timers in local time.
    "tzdata",
    // dbus-daemon, and dbus-test-tool to hold bus names: b8g-init's Type=dbus and bus
    // activation tests.
    "dbus-tests",
    // The uevent sender of b8g-init's device-unit test.
    "python3",
    // Remote builds and `b8g store serve --stdio` are tested over real SSH
    // (sshd on loopback ports, one per test "machine").
    "openssh-server",
    "openssh-client",
    // psql, for the server image's test (cli/tests/server_vm.rs).
    "postgresql-client",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = args
        .split_first()
        .map(|(t, r)| (t.as_str(), r))
        .unwrap_or(("help", &[]));
    match task {
        "test" => test(rest),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "seeds" => seeds_task(rest),
        "compat" => compat::run(rest),
        "verify-debian-units" => debian_units::run(rest),
        "debian-server" => debian_server::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo | test [--full] [--fresh] | bench NAME | seeds push DIR|URL [--key FILE] | compat nixpkgs-lib DIR | verify-debian-units [--packages N] [--dir DIR] | debian-server>"
            );
            if task == "help" || task == "--help" || task == "-h" {
                Ok(())
            } else {
                bail!("unknown task {task:?}")
            }
        }
    }
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Installs the Debian packages that are not installed yet.
fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing missing packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    // Daemons the tests start themselves (sshd) must not start on the host
    // when installed: Debian's policy-rc.d convention says "not now" (101).
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        fs::write(
            policy,
            "#!/bin/sh\n# b8g xtask: no daemon starts while packages install.\nexit 101\n",
        )?;
        fs::set_permissions(policy, fs::Permissions::from_mode(0o755))?;
    }
    let installed = run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing));
    if ours {
        fs::remove_file(policy)?;
    }
    installed
}

/// The S3 server the S3 cache tests start (`s3s-fs`, which keeps objects as
/// plain files), installed from the crate registry into `target/tools` once.
/// 0.14.1 is the last release that builds with the pinned Rust toolchain.
fn ensure_s3s_fs() -> Result<std::path::PathBuf> {
    let tools = root().join("target/tools");
    let bin = tools.join("bin/s3s-fs");
    if !bin.is_file() {
        eprintln!(
            "installing s3s-fs (the S3 server of the cache tests) into {}",
            tools.display()
        );
        run(cargo()
            .args([
                "install",
                "--locked",
                "--quiet",
                "s3s-fs",
                "--version",
                "0.14.1",
                "--features",
                "binary",
                "--root",
            ])
            .arg(&tools))?;
    }
    Ok(bin)
}

/// Disk a clean `cargo xtask test` takes, measured on a clean clone (2026-12-06):
/// target/ grows to 3.7 GB without incremental caches; with the tests' stores,
/// images and VMs, the disk in use grew by at most 7.6 GB during the run.
const TEST_DISK_BYTES: u64 = 10 << 30;

/// Says so before the build when the disk is short: running out shows up much
/// later as a linker's bus error or a store write failing mid-test.
fn warn_if_short_of_disk() {
    let free = |p: &Path| -> Option<u64> {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: statvfs is plain data, for which all zeroes is a valid value.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid NUL-terminated path and a statvfs to fill.
        (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0)
            .then(|| s.f_bavail as u64 * s.f_frsize as u64)
    };
    for dir in [root(), std::env::temp_dir()] {
        if let Some(bytes) = free(&dir).filter(|b| *b < TEST_DISK_BYTES) {
            eprintln!(
                "warning: {:.1} GiB free under {}; a clean `cargo xtask test` needs about {} GiB",
                bytes as f64 / (1u64 << 30) as f64,
                dir.display(),
                TEST_DISK_BYTES >> 30
            );
        }
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn test(args: &[String]) -> Result<()> {
    let full = args.iter().any(|a| a == "--full");
    let fresh = args.iter().any(|a| a == "--fresh");
    if let Some(bad) = args
        .iter()
        .find(|a| !["--full", "--fresh"].contains(&a.as_str()))
    {
        bail!("unknown option {bad:?}: cargo xtask test [--full] [--fresh]");
    }
    warn_if_short_of_disk();
    ensure_packages(TEST_PACKAGES)?;
    ensure_apt_lists()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let bin = build_static_init()?;
    seeds::refresh_vanished(&bin.join("bin/b8g"), seeds::Usable::Fetchable)?;
    let mut c = cargo();
    c.args(["test", "--workspace", "--no-fail-fast"]);
    c.env("B8G_INIT_BIN", &bin);
    c.env("B8G_S3S_FS", ensure_s3s_fs()?);
    if full {
        c.env("B8G_FULL_TESTS", "1");
    }
    // What a new machine has: no store, state or configuration of b8g, no
    // caches, nothing left in the tests' scratch directories.
    let _scratch = if fresh {
        let scratch = tempfile::Builder::new()
            .prefix("b8g-fresh-test")
            .tempdir()
            .context("cannot create the fresh test directory")?;
        let conf = scratch.path().join("b8g.conf");
        std::fs::write(&conf, "# cargo xtask test --fresh: no substituters\n")?;
        let tmp = scratch.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let target_tmp = root().join("target/tmp");
        if target_tmp.exists() {
            std::fs::remove_dir_all(&target_tmp)
                .with_context(|| format!("cannot empty {}", target_tmp.display()))?;
        }
        c.env("B8G_CONF", &conf)
            .env("B8G_STORE_ROOT", scratch.path().join("root"))
            .env("TMPDIR", &tmp)
            .env_remove("B8G_STORE_DIR")
            .env_remove("B8G_STATE_DIR")
            .env_remove("B8G_CACHE_TOKEN");
        eprintln!(
            "--fresh: empty store root, state and configuration under {}",
            scratch.path().display()
        );
        Some(scratch)
    } else {
        None
    };
    if full {
        // Slow tests are `#[ignore = "why"]`; the pty helper of sandbox_tty
        // is run by its own test, under a pseudo-terminal, never alone.
        c.args([
            "--",
            "--include-ignored",
            "--skip",
            "pty_child_runs_a_build_that_tries_tiocsti",
        ]);
    }
    let tests = run(&mut c);
    if full {
        // The Debian server booted by b8g-init (issue 16's acceptance) runs even when a
        // test failed, so one run shows both.
        debian_server::scenario(&bin)?;
    }
    tests
}

/// `cargo xtask seeds push DIR|URL [--key FILE]`.
fn seeds_task(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("push") => {
            ensure_apt_lists()?;
            run(cargo().args(["build", "--release", "-p", "b8g-cli"]))?;
            let b8g = root().join("target/release/b8g");
            seeds::refresh_vanished(&b8g, seeds::Usable::Any)?;
            seeds::push(&b8g, &args[1..])
        }
        _ => bail!("usage: cargo xtask seeds push DIR|URL [--key SECRET-KEY-FILE]"),
    }
}

/// Seeds are fetched with `apt-get download`, which needs package lists.
fn ensure_apt_lists() -> Result<()> {
    let has_lists = std::fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    if !has_lists {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
    }
    Ok(())
}

/// Builds b8g-init and b8gctl as static binaries (they run as PID 1 in systems
/// with no libc of their own) into `target/b8g-bin/bin`, the directory
/// `b8g-build --b8g-bin` imports into the store.
fn build_static_init() -> Result<std::path::PathBuf> {
    let target_dir = root().join("target/static");
    // b8g-init has its own size-optimised profile (Cargo.toml: init-static) and links
    // musl where rustup has it: a static glibc brings ~900 kB of code (NSS, iconv,
    // the dynamic loader) that PID 1 never uses but keeps mapped. The rest builds as
    // release against glibc.
    let build = |profile: &str, target: &str, packages: &[&str]| -> Result<()> {
        let mut build = cargo();
        build
            .args(["build", "--profile", profile, "--target", target, "--config"])
            .arg(format!(
                r#"target.{target}.rustflags=["-C","target-feature=+crt-static","-C","strip=symbols"]"#
            ))
            .env("CARGO_TARGET_DIR", &target_dir);
        for package in packages {
            build.args(["-p", package]);
        }
        run(&mut build)
    };
    let mut init_target = init_target();
    if let Err(e) = build("init-static", init_target, &["b8g-init"]) {
        if init_target != MUSL_TARGET {
            return Err(e);
        }
        // A cargo that is not rustup's may lack the target rustup added.
        eprintln!("warning: b8g-init does not build for {MUSL_TARGET} ({e:#}); it links glibc statically instead");
        init_target = GNU_TARGET;
        build("init-static", init_target, &["b8g-init"])?;
    }
    let others: Vec<&str> = STATIC_BINS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| *p != "b8g-init")
        .collect();
    build("release", GNU_TARGET, &others)?;
    let plan = |package: &str| {
        if package == "b8g-init" {
            ("init-static", init_target)
        } else {
            ("release", GNU_TARGET)
        }
    };
    let bin = root().join("target/b8g-bin");
    std::fs::create_dir_all(bin.join("bin"))?;
    for (package, name) in STATIC_BINS
        .iter()
        .flat_map(|(p, bins)| bins.iter().map(move |b| (*p, b)))
    {
        let (profile, target) = plan(package);
        let src = target_dir.join(target).join(profile).join(name);
        let dst = bin.join("bin").join(name);
        // Copy only when changed, so the store path stays the same between runs.
        let same = std::fs::read(&dst).ok()
            == Some(std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?);
        if !same {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(bin)
}

const GNU_TARGET: &str = "x86_64-unknown-linux-gnu";
const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// musl for b8g-init when rustup has (or can add) its standard library; glibc, with a
/// warning, when it cannot (PID 1 then works the same, with more code mapped).
fn init_target() -> &'static str {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == MUSL_TARGET)
        })
        .unwrap_or(false);
    if installed {
        return MUSL_TARGET;
    }
    let added = Command::new("rustup")
        .args(["target", "add", MUSL_TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if added {
        MUSL_TARGET
    } else {
        eprintln!(
            "warning: rustup cannot add {MUSL_TARGET}; b8g-init links glibc statically instead"
        );
        GNU_TARGET
    }
}

/// Packages built as static binaries into `target/b8g-bin/bin`, and the binaries
/// each one contributes.
const STATIC_BINS: &[(&str, &[&str])] = &[
    ("b8g-init", &["b8g-init", "b8gctl"]),
    ("b8g-unikernel-shim", &["b8g-unikernel-shim"]),
    // b8g itself runs inside generations (`b8g system switch`); checked to link statically.
    ("b8g-cli", &["b8g"]),
];

/// The main job: build images/minimal.nix and boot it under qemu (TCG) until
/// its hello service greets the console, then power it off from the console.
fn demo(args: &[String]) -> Result<()> {
    ensure_packages(&["qemu-system-x86", "erofs-utils", "e2fsprogs"])?;
    ensure_apt_lists()?;
    // b8g-init and the rest of b8g in the image are built from source inside
    // the sandbox (recipes/pkgs/b8g), not on the host.
    run(cargo().args(["build", "--release", "-p", "b8g-cli"]))?;
    seeds::refresh_vanished(&root().join("target/release/b8g"), seeds::Usable::Any)?;
    let out = root().join("target/demo");
    std::fs::create_dir_all(&out)?;
    let config = args
        .first()
        .cloned()
        .unwrap_or_else(|| "images/minimal.nix".into());
    run(Command::new(root().join("target/release/b8g"))
        .current_dir(root())
        .args([
            "run-vm",
            "--image",
            "--until",
            "hello from",
            "--poweroff",
            "--timeout",
            "600",
            "-o",
        ])
        .arg(out.join("result"))
        .args(["--b8g-bin", "source"])
        .arg(&config))?;
    eprintln!("demo: {config} built (link: target/demo/result, image: target/demo/result.img), booted and powered off cleanly.");
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    const USAGE: &str =
        "usage: cargo xtask bench <store | eval | build | cache | boot | install | system | unikernel>";
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("store") => {
            ensure_packages(&["nix-bin", "openssl"])?;
            bench_store::run(rest)
        }
        Some("eval") => bench_eval::run(rest),
        Some("build") => bench_build::run(rest),
        Some("cache") => bench_cache::run(rest),
        Some("boot") => bench_boot::run(rest),
        Some("install") => bench_install::run(rest),
        Some("system") => bench_system::run(rest),
        Some("unikernel") => bench_unikernel::run(rest),
        Some(other) => bail!("no benchmark {other:?}; {USAGE}"),
        None => bail!("{USAGE}"),
    }
}

/// The median of `v` (sorted in place): the mean of the middle two for an even count.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
