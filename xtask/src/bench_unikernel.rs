//! `cargo xtask bench unikernel`: the unikernel against the full system (issue 9):
//! image size, boot time to the app's first output, and qemu's peak RSS.
//!
//! The images are built once with the release `b8g` in a store of their own
//! (`target/bench-unikernel/store`): `images/unikernel-hello.nix` (a minimal
//! kernel built from the pinned Debian source seed for this app — its build
//! time is printed when it is not in the store yet —, b8g-unikernel-shim as
//! /init, static busybox `echo` as the app), the same image on Debian's stock
//! kernel seed (`kernel = "stock"`, for comparison) and `images/minimal.nix`
//! (stage 1, erofs root, b8g-init, a `hello` service). Then
//! each is booted `--runs N` times (default 10), alternating, with qemu under TCG
//! (`-M pc`, no KVM) exactly as `b8g run-vm` boots it. Per boot we record the host
//! wall time from launching qemu to the app's first console line (for the
//! unikernel, the line after the shim's exec marker; for the full system, the
//! `hello from` line of its service), the guest's `CLOCK_BOOTTIME` that the shim
//! prints with its marker, and qemu's peak resident set (VmHWM, polled).
//! Medians and minima are printed beside Lupine's and Firecracker's published
//! figures, which were measured with KVM and are not comparable in absolute terms.
//!
//! The harness starts qemu itself (instead of linking b8g-kernel-adapters) to keep
//! xtask light; the argument list matches `b8g_kernel_adapters::linux::qemu::Vm`.

use anyhow::{bail, Context, Result};
use b8g_layout::generation::toplevel;
use b8g_layout::unikernel::console::{parse_boottime, EXEC_MARKER};
use b8g_layout::unikernel::unescape;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One boot's measurements.
#[derive(Debug, Default, Clone)]
struct Boot {
    /// Launch to the app's first output line (host wall clock).
    to_app: Option<Duration>,
    /// Guest CLOCK_BOOTTIME at the shim's exec marker (unikernel only).
    guest: Option<Duration>,
    peak_rss_kib: Option<u64>,
    exit_ok: bool,
}

/// Maps a logical store path to its place under the benchmark's store root and
/// follows symlinks (store links point at logical paths).
fn follow(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&p) {
            Ok(t) => {
                p = if t.is_absolute() {
                    let phys = root.join(t.strip_prefix("/").unwrap_or(&t));
                    if phys.symlink_metadata().is_ok() {
                        phys
                    } else {
                        t
                    }
                } else {
                    p.parent().unwrap_or(Path::new("/")).join(t)
                }
            }
            Err(_) => return Ok(p),
        }
    }
    bail!("too many symbolic links at {}", path.display())
}

/// The qemu arguments for a kernel, initrd, memory, command line and extras.
fn qemu_args(
    machine: &str,
    memory: &str,
    kernel: &Path,
    initrd: &Path,
    append: &[String],
    extra: &[String],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "-M",
        machine,
        "-accel",
        "tcg",
        "-m",
        memory,
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(kernel.display().to_string());
    a.push("-initrd".into());
    a.push(initrd.display().to_string());
    let mut cmdline = vec!["console=ttyS0".to_string(), "panic=-1".to_string()];
    cmdline.extend(append.iter().cloned());
    a.push("-append".into());
    a.push(cmdline.join(" "));
    a.extend(extra.iter().cloned());
    a
}

/// The unikernel image's qemu arguments, from its manifest.
fn unikernel_args(dir: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("manifest"))
        .with_context(|| format!("reading {}/manifest", dir.display()))?;
    let (mut memory, mut machine) = ("64M".to_string(), "pc".to_string());
    let (mut append, mut extra) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = unescape(v).with_context(|| format!("{}/manifest", dir.display()))?;
        match k {
            "memory" => memory = v,
            "machine" => machine = v,
            "append" => append.push(v),
            "qemu-arg" => extra.push(v),
            _ => bail!("unknown manifest key {k:?}"),
        }
    }
    Ok(qemu_args(
        &machine,
        &memory,
        &dir.join("kernel"),
        &dir.join("initrd"),
        &append,
        &extra,
    ))
}

/// The full system's qemu arguments, as `b8g run-vm` boots a generation.
fn system_args(store_root: &Path, link: &Path) -> Result<Vec<String>> {
    let top = std::fs::read_link(link).with_context(|| format!("reading {}", link.display()))?;
    let logical_top = top
        .strip_prefix(store_root)
        .map(|p| Path::new("/").join(p))
        .unwrap_or(top.clone());
    let params = std::fs::read_to_string(follow(store_root, &top.join(toplevel::KERNEL_PARAMS))?)?;
    let append: Vec<String> = params
        .split_whitespace()
        .map(|w| toplevel::fill_in(w, &logical_top.to_string_lossy()))
        .collect();
    let img = link.with_extension("img");
    Ok(qemu_args(
        "pc",
        "512M",
        &follow(store_root, &top.join(toplevel::KERNEL))?,
        &follow(store_root, &top.join(toplevel::INITRD))?,
        &append,
        &[
            "-drive".into(),
            format!("file={},if=virtio,format=raw,readonly=on", img.display()),
        ],
    ))
}

fn peak_rss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Boots once. `marker`: the line before the app's output (None: `app_line` is
/// itself the app's first output). Stops qemu once the app has printed.
fn boot(args: &[String], marker: Option<&str>, app_line: &str) -> Result<Boot> {
    let start = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let pid = child.id();
    let out = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut b = Boot::default();
    let mut after_marker = marker.is_none();
    let mut log = Vec::new();
    loop {
        if let Some(k) = peak_rss(pid) {
            b.peak_rss_kib = Some(k);
        }
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok((at, line)) => {
                if after_marker
                    && b.to_app.is_none()
                    && (marker.is_some() || line.contains(app_line))
                {
                    b.to_app = Some(at - start);
                    b.exit_ok = line.contains(app_line);
                }
                if !after_marker && marker.is_some_and(|m| line.contains(m)) {
                    after_marker = true;
                    b.guest = parse_boottime(&line);
                }
                log.push(line);
                if b.to_app.is_some() {
                    // Let it print a little more for the peak RSS, then stop it.
                    std::thread::sleep(Duration::from_millis(200));
                    if let Some(k) = peak_rss(pid) {
                        b.peak_rss_kib = Some(k);
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if start.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    if b.to_app.is_none() || !b.exit_ok {
        bail!(
            "the VM did not print {app_line:?}; its console:\n{}",
            log.join("\n")
        );
    }
    Ok(b)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().min_by(f64::total_cmp)
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.3} s"))
}

fn size(paths: &[PathBuf]) -> Result<u64> {
    let mut t = 0;
    for p in paths {
        t += std::fs::metadata(p)
            .with_context(|| format!("size of {}", p.display()))?
            .len();
    }
    Ok(t)
}

struct Row {
    name: &'static str,
    bytes: u64,
    boots: Vec<Boot>,
}

impl Row {
    fn to_app(&self) -> Vec<f64> {
        self.boots
            .iter()
            .filter_map(|b| b.to_app.map(|d| d.as_secs_f64()))
            .collect()
    }
    fn guest(&self) -> Vec<f64> {
        self.boots
            .iter()
            .filter_map(|b| b.guest.map(|d| d.as_secs_f64()))
            .collect()
    }
    fn rss(&self) -> Vec<f64> {
        self.boots
            .iter()
            .filter_map(|b| b.peak_rss_kib.map(|k| k as f64 / 1024.0))
            .collect()
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 10usize;
    let mut b8g_given: Option<PathBuf> = None;
    let mut bin_given: Option<PathBuf> = None;
    let mut store_given: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs N")?.parse()?,
            // Reuse existing builds (skips the release and static builds).
            "--b8g" => b8g_given = Some(it.next().context("--b8g FILE")?.into()),
            "--b8g-bin" => bin_given = Some(it.next().context("--b8g-bin DIR")?.into()),
            // A store root that already holds the builds (default: target/bench-unikernel/store).
            "--store" => store_given = Some(it.next().context("--store DIR")?.into()),
            other => bail!(
                "unknown argument {other:?} (usage: cargo xtask bench unikernel [--runs N] [--b8g FILE] [--b8g-bin DIR] [--store DIR])"
            ),
        }
    }
    if runs < 1 {
        bail!("--runs must be at least 1");
    }
    crate::ensure_packages(&["qemu-system-x86", "erofs-utils", "e2fsprogs"])?;
    crate::ensure_apt_lists()?;
    let bin = match bin_given {
        Some(b) => b,
        None => crate::build_static_init()?,
    };
    let b8g = match b8g_given {
        Some(b) => b,
        None => {
            crate::run(crate::cargo().args(["build", "--release", "-p", "b8g-cli"]))?;
            crate::root().join("target/release/b8g")
        }
    };
    let work = crate::root().join("target/bench-unikernel");
    let store = store_given.unwrap_or_else(|| work.join("store"));
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&store)?;

    // The minimal kernel first, with every core (`b8g run-vm` builds with one).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel_link = work.join("unikernel-kernel");
    let hello = crate::root().join("images/unikernel-hello.nix");
    let started = Instant::now();
    // Built by an earlier run: the link to it is still there.
    let cached = std::fs::canonicalize(&kernel_link).is_ok_and(|k| k.join("vmlinuz").is_file());
    crate::run(
        Command::new(b8g.with_file_name("b8g-build"))
            .current_dir(crate::root())
            .arg("-q")
            .arg("--root")
            .arg(&store)
            .args(["--cores", &cores.to_string(), "-A", "kernel", "-o"])
            .arg(&kernel_link)
            .arg(&hello)
            .env("B8G_INIT_BIN", &bin)
            .stdout(Stdio::null()),
    )?;
    let kernel_build = (!cached).then(|| started.elapsed());

    // Build the images (and boot each once, which also checks them).
    let uk_link = work.join("unikernel-hello");
    let stock_file = work.join("unikernel-hello-stock.nix");
    std::fs::write(
        &stock_file,
        format!("import {} {{ kernel = \"stock\"; }}\n", hello.display()),
    )?;
    let stock_link = work.join("unikernel-hello-stock");
    for (file, link) in [(&hello, &uk_link), (&stock_file, &stock_link)] {
        crate::run(
            Command::new(&b8g)
                .current_dir(crate::root())
                .arg("-q")
                .arg("--root")
                .arg(&store)
                .args(["run-vm", "--timeout", "600", "-o"])
                .arg(link)
                .arg("--b8g-bin")
                .arg(&bin)
                .arg(file)
                .env("B8G_INIT_BIN", &bin)
                .stdout(Stdio::null()),
        )?;
    }
    let sys_link = work.join("minimal");
    crate::run(
        Command::new(&b8g)
            .current_dir(crate::root())
            .arg("-q")
            .arg("--root")
            .arg(&store)
            // --image: the boots below use the root image beside the link.
            .args([
                "run-vm",
                "--image",
                "--until",
                "hello from",
                "--timeout",
                "600",
                "-o",
            ])
            .arg(&sys_link)
            .arg("--b8g-bin")
            .arg(&bin)
            .arg("images/minimal.nix")
            .stdout(Stdio::null()),
    )?;

    let uk_dir = std::fs::canonicalize(&uk_link)?;
    let uk_args = unikernel_args(&uk_dir)?;
    let sys_args = system_args(&store, &sys_link)?;
    let sys_top = std::fs::read_link(&sys_link)?;
    let mut uk = Row {
        name: "unikernel-hello",
        bytes: size(&[uk_dir.join("kernel"), uk_dir.join("initrd")])?,
        boots: Vec::new(),
    };
    let stock_dir = std::fs::canonicalize(&stock_link)?;
    let stock_args = unikernel_args(&stock_dir)?;
    let mut stock = Row {
        name: "  (stock kernel)",
        bytes: size(&[stock_dir.join("kernel"), stock_dir.join("initrd")])?,
        boots: Vec::new(),
    };
    let mut sys = Row {
        name: "minimal.nix",
        bytes: size(&[
            follow(&store, &sys_top.join("kernel"))?,
            follow(&store, &sys_top.join("initrd"))?,
            sys_link.with_extension("img"),
        ])?,
        boots: Vec::new(),
    };
    for i in 0..runs {
        eprintln!("run {}/{runs}", i + 1);
        uk.boots.push(boot(
            &uk_args,
            Some(EXEC_MARKER),
            "hello from a b8g unikernel",
        )?);
        stock.boots.push(boot(
            &stock_args,
            Some(EXEC_MARKER),
            "hello from a b8g unikernel",
        )?);
        sys.boots.push(boot(&sys_args, None, "hello from")?);
    }

    println!(
        "unikernel benchmark: {runs} boots each, qemu TCG (no KVM), -M pc, on this host (shared, so times are noisy)"
    );
    println!(
        "{:<17} {:>12} {:>26} {:>30} {:>16}",
        "image",
        "size",
        "launch->app median / min",
        "guest boottime median / min",
        "qemu RSS median"
    );
    for r in [&uk, &stock, &sys] {
        let (t, g, m) = (r.to_app(), r.guest(), r.rss());
        println!(
            "{:<17} {:>8.2} MiB {:>26} {:>30} {:>12}",
            r.name,
            r.bytes as f64 / 1048576.0,
            format!("{} / {}", secs(median(t.clone())), secs(min(&t))),
            if g.is_empty() {
                "- (no guest marker)".to_string()
            } else {
                format!("{} / {}", secs(median(g.clone())), secs(min(&g)))
            },
            median(m).map_or("-".into(), |m| format!("{m:.0} MiB")),
        );
    }
    println!(
        "sizes: unikernel = kernel + initramfs; minimal.nix = kernel + stage-1 initramfs + root image"
    );
    match kernel_build {
        Some(d) => println!(
            "minimal kernel: built from source in {:.0} s wall time ({cores} cores, this host)",
            d.as_secs_f64()
        ),
        None => println!("minimal kernel: already in the store (no build time measured)"),
    }
    for r in [&uk, &stock] {
        if let (Some(a), Some(b)) = (median(r.to_app()), median(sys.to_app())) {
            println!(
                "{} / full system, launch to app output (median): {:.2} (target <= 0.33)",
                r.name.trim(),
                a / b
            );
        }
    }
    if let (Some(a), Some(b)) = (median(uk.guest()), median(stock.guest())) {
        println!(
            "guest boot to the app (CLOCK_BOOTTIME, median): minimal kernel {a:.3} s, stock kernel {b:.3} s ({:.2})",
            a / b
        );
    }
    println!(
        "unikernel image {:.2} MiB (target < 8 MiB; Lupine reports about 4 MB)",
        uk.bytes as f64 / 1048576.0
    );
    println!("published, for scale (KVM, not TCG): Lupine Linux 70 ms boot to the app on Firecracker/KVM;");
    println!("  Firecracker <= 125 ms from launch to init (its specification). Ours run under TCG (emulated CPU).");
    Ok(())
}
