//! `cargo xtask demo|test|bench`: project tasks that need more than cargo.
//!
//! Each task installs its own Debian prerequisites idempotently (it checks with
//! `dpkg-query` first and runs `apt-get` only for what is missing), so the two
//! README commands work on a fresh Debian 12 machine.

mod bench_store;

use anyhow::{bail, Context, Result};
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
        _ => {
            eprintln!("usage: cargo xtask <demo | test [--full] | bench store>");
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
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn test(args: &[String]) -> Result<()> {
    let full = args.iter().any(|a| a == "--full");
    ensure_packages(TEST_PACKAGES)?;
    let mut c = cargo();
    c.args(["test", "--workspace", "--no-fail-fast"]);
    if full {
        c.env("B8G_FULL_TESTS", "1");
    }
    run(&mut c)
}

fn demo(_args: &[String]) -> Result<()> {
    run(cargo().args(["build", "--workspace", "--release"]))?;
    eprintln!("b8g is built; the image pipeline (images/minimal.nix) does not exist yet.");
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("store") => {
            ensure_packages(&["nix-bin", "openssl"])?;
            bench_store::run(&args[1..])
        }
        Some(other) => bail!("no benchmark {other:?} (available: store)"),
        None => bail!("usage: cargo xtask bench store"),
    }
}
