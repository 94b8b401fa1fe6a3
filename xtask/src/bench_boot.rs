//! `cargo xtask bench boot`: b8g-init against systemd: boot time and PID 1 memory (issues
//! 5 and 16).
//!
//! The Debian 12 server of `cargo xtask debian-server` (openssh-server, nginx, postgresql,
//! mariadb-server, redis-server, cron, chrony, ifupdown, a second disk at /srv and a swap
//! file from /etc/fstab) with systemd-sysv added, so that both inits boot the same root:
//! configured the same way, with the static b8g-init and b8gctl in /usr/local/sbin and one
//! extra unit, `bench-ready.service`, ordered after (and wanting) every server unit. Both
//! inits boot that same image (read through a qemu snapshot, so every boot starts from the
//! same bytes) with the host's stock kernel under TCG; a busybox stage 1 loads the virtio
//! and ext4 modules, mounts the image, prints `STAGE1 handoff <uptime>` and `switch_root`s
//! to the init named by `stage1.init=` (`debian_image`). The ready unit prints `BENCH ready
//! <uptime> rss_kb <VmRSS of pid 1>` and which of the daemons run, then powers off. Time =
//! ready minus handoff (guest clock), the two inits alternating run by run. Medians and
//! ratios are printed; the issue's targets are time ≤ 1/2 and RSS ≤ 1/4 of systemd's. Also
//! shown: guest idle time between the markers and the CPU time PID 1 itself used after
//! the handoff. Each boot's console goes to `target/bench-boot/console-INIT-RUN.log`;
//! `--dump` adds each init's own account of the boot there (b8g-init's unit logs and PID
//! 1's smaps; systemd-analyze and the journal).

use crate::debian_image::{install_ready_unit, kernel};
use crate::debian_server;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The guest's CPUs.
const VCPUS: u32 = 2;

/// The processes that must run when the ready unit fires.
const DAEMONS: &[&str] = &[
    "sshd",
    "nginx",
    "postgres",
    "mariadbd",
    "redis-server",
    "cron",
    "chronyd",
];

/// The marker unit: after every unit the server needs.
fn ready_unit() -> String {
    let units = debian_server::UNITS.join(" ");
    format!(
        "[Unit]
Description=Benchmark marker: the server's units are up
Wants={units}
After={units}

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/bench-ready

[Install]
WantedBy=multi-user.target
"
    )
}

const READY_SCRIPT: &str = r#"#!/bin/sh
read -r up idle < /proc/uptime
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/1/status)
anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/1/status)
running=""
for c in /proc/[0-9]*/comm; do
  read -r n < "$c" 2>/dev/null && running="$running $n"
done
found=""
for d in sshd nginx postgres mariadbd redis-server cron chronyd; do
  case " $running " in *" $d "*) found="$found $d";; esac
done
init=$(cat /proc/1/comm)
# CPU time PID 1 used so far (utime + stime, clock ticks of 1/100 s); stage 1 was the
# same process, so the handoff line gives the part before the init.
set -- $(sed 's/^.*) //' /proc/1/stat)
cpu=$(( ${12} + ${13} ))
echo "BENCH ready $up idle $idle cpu_ticks $cpu rss_kb $rss anon_kb $anon init $init running$found" > /dev/ttyS0
# `--dump` (bench.dump on the kernel command line): after the measurement, each init's
# own account of the boot, to see where the time goes.
if grep -qw bench.dump /proc/cmdline; then
  echo "BENCH dump" > /dev/ttyS0
  case $init in
    b8g-init) cat /var/log/b8g/*.log | sort -s -t']' -k1,1
              grep -E '^[0-9a-f]+-|^(Rss|Anonymous):' /proc/1/smaps ;;
    *) systemd-analyze blame --no-pager
       systemd-analyze critical-chain --no-pager bench-ready.service
       journalctl -b -o short-monotonic --no-pager ;;
  esac > /dev/ttyS0 2>&1
  # CPU time by cgroup (each unit has its own under both inits), largest first.
  for f in $(find /sys/fs/cgroup -name cpu.stat); do
    u=$(sed -n 's/^usage_usec //p' "$f")
    echo "BENCH cpu ${u:-0} ${f%/cpu.stat}"
  done | sort -k3,3nr -t' ' > /dev/ttyS0 2>&1
fi
case $init in
  b8g-init) /usr/local/sbin/b8gctl poweroff ;;
  *) systemctl --no-block poweroff ;;
esac
"#;

struct Sample {
    init: &'static str,
    secs: f64,
    /// Guest CPU idle time between handoff and ready: time spent waiting, not working.
    idle: f64,
    /// CPU time the init (PID 1 after the handoff) used up to the marker.
    pid1_cpu: f64,
    uptime: f64,
    rss_kb: u64,
    anon_kb: u64,
    wall: Duration,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 3usize;
    let mut dump = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dump" => dump = true,
            "--runs" => {
                runs = it
                    .next()
                    .context("--runs needs a number")?
                    .parse()
                    .context("--runs needs a number")?
            }
            other => bail!("usage: cargo xtask bench boot [--runs N] [--dump] (unknown {other})"),
        }
    }
    crate::ensure_packages(crate::debian_image::HOST_PACKAGES)?;
    crate::ensure_apt_lists()?;
    // B8G_INIT_BIN (a directory with bin/b8g-init and bin/b8gctl, what `cargo xtask
    // test` passes to the tests) skips the static build of every STATIC_BINS package.
    let bin = match std::env::var_os("B8G_INIT_BIN") {
        Some(d) => PathBuf::from(d),
        None => crate::build_static_init()?,
    };
    let work = crate::root().join("target/bench-boot");
    let include = debian_server::include(true);
    debian_server::prepare(&work, &bin, &include, false, &install_bench_files)?;
    let (kernel, version) = kernel()?;
    let image = work.join("root.ext4");
    let initrd = work.join("stage1.cpio");

    let inits: [(&'static str, &str); 2] = [
        ("b8g-init", "/usr/local/sbin/b8g-init"),
        ("systemd", "/lib/systemd/systemd"),
    ];
    let mut samples = Vec::new();
    for r in 0..runs {
        // Alternate which init goes first so drift on the host hits both alike.
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (name, path) = inits[i];
            let log = work.join(format!("console-{name}-{}.log", r + 1));
            let s = boot(&kernel, &initrd, &image, name, path, &log, dump)?;
            eprintln!(
                "run {}: {:<8} {:.2} s from handoff to services ready ({:.2} s of it idle, PID 1 used {:.2} s of CPU; uptime {:.2} s), PID 1 RSS {} kB ({} kB anonymous), qemu wall {:.1} s",
                r + 1,
                name,
                s.secs,
                s.idle,
                s.pid1_cpu,
                s.uptime,
                s.rss_kb,
                s.anon_kb,
                s.wall.as_secs_f64()
            );
            samples.push(s);
        }
    }
    let med = |name: &str, f: &dyn Fn(&Sample) -> f64| -> f64 {
        let mut v: Vec<f64> = samples.iter().filter(|s| s.init == name).map(f).collect();
        crate::median(&mut v)
    };
    let (bt, st) = (med("b8g-init", &|s| s.secs), med("systemd", &|s| s.secs));
    let (bu, su) = (
        med("b8g-init", &|s| s.uptime),
        med("systemd", &|s| s.uptime),
    );
    let (br, sr) = (
        med("b8g-init", &|s| s.rss_kb as f64),
        med("systemd", &|s| s.rss_kb as f64),
    );
    println!("boot benchmark: {runs} runs each, qemu TCG, kernel {version}, Debian 12 minbase + {include}");
    println!("                      b8g-init    systemd    ratio");
    println!("handoff→ready (s)   {bt:>10.2} {st:>10.2} {:>8.2}", bt / st);
    println!("uptime at ready (s) {bu:>10.2} {su:>10.2} {:>8.2}", bu / su);
    let (bi, si) = (med("b8g-init", &|s| s.idle), med("systemd", &|s| s.idle));
    println!("guest idle (s)      {bi:>10.2} {si:>10.2}");
    let (bc, sc) = (
        med("b8g-init", &|s| s.pid1_cpu),
        med("systemd", &|s| s.pid1_cpu),
    );
    println!("PID 1 CPU (s)       {bc:>10.2} {sc:>10.2} {:>8.2}", bc / sc);
    println!("PID 1 RSS (kB)      {br:>10.0} {sr:>10.0} {:>8.2}", br / sr);
    // The guest's CPUs were busy for (vCPUs × time − idle) seconds; what was not PID 1
    // was the services' (and the kernel's) own work. Even an init costing nothing that
    // kept every vCPU busy could not finish that work sooner than this.
    let work = |s: &Sample| (VCPUS as f64 * s.secs - s.idle - s.pid1_cpu).max(0.0);
    let (bw, sw) = (med("b8g-init", &work), med("systemd", &work));
    println!("other CPU work (s)  {bw:>10.2} {sw:>10.2} {:>8.2}", bw / sw);
    println!(
        "fastest possible handoff→ready with b8g-init's other work: {:.2} s = {:.2} of systemd's time",
        bw / VCPUS as f64,
        bw / VCPUS as f64 / st
    );
    println!(
        "targets: time ≤ 0.50 of systemd: {}; RSS ≤ 0.25 of systemd: {}",
        if bt / st <= 0.5 { "met" } else { "NOT met" },
        if br / sr <= 0.25 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// b8g-init, b8gctl, the ready unit (enabled by a link, as `systemctl enable` would)
/// and a fixed hostname. Both inits see exactly these files.
fn install_bench_files(rootfs: &Path) -> Result<()> {
    install_ready_unit(rootfs, READY_SCRIPT, &ready_unit())
}

fn field<T: std::str::FromStr>(line: &str, after: &str) -> Option<T> {
    let mut w = line.split_whitespace();
    w.position(|x| x == after)?;
    w.next()?.parse().ok()
}

/// One boot; returns the measurements or fails with the console's tail.
fn boot(
    kernel: &Path,
    initrd: &Path,
    image: &Path,
    name: &'static str,
    init: &str,
    log: &Path,
    dump: bool,
) -> Result<Sample> {
    let t0 = Instant::now();
    let mut child = Command::new("timeout")
        .args([
            "300",
            "qemu-system-x86_64",
            "-M",
            "pc",
            "-m",
            "2048",
            "-smp",
            &VCPUS.to_string(),
            "-nographic",
            "-no-reboot",
            "-kernel",
        ])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,snapshot=on",
            image.display()
        ))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,snapshot=on",
            image.with_file_name("srv.ext4").display()
        ))
        .args([
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0",
        ])
        .arg("-append")
        .arg(format!(
            // net.ifnames=0: eth0 under both inits (systemd's udev would rename it).
            "console=ttyS0 panic=-1 loglevel=4 no_timer_check net.ifnames=0 stage1.init={init}{}",
            if dump { " bench.dump" } else { "" }
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    let out = child.stdout.take().context("qemu stdout")?;
    let mut console = Vec::new();
    let mut handoff: Option<f64> = None;
    let mut idle_at_handoff = f64::NAN;
    let mut ticks_at_handoff = f64::NAN;
    // (uptime, idle seconds, PID 1 CPU ticks, VmRSS kB, RssAnon kB, the marker line)
    let mut ready: Option<(f64, f64, f64, u64, u64, String)> = None;
    for line in BufReader::new(out).lines() {
        let raw = line.unwrap_or_default();
        // Firmware and consoles put escape sequences before the marker on its line.
        let line = raw
            .find("BENCH ")
            .or_else(|| raw.find("STAGE1 "))
            .map(|i| raw[i..].to_string())
            .unwrap_or_else(|| raw.clone());
        if line.starts_with("STAGE1 handoff") {
            handoff = field(&line, "handoff");
            idle_at_handoff = field(&line, "idle").unwrap_or(f64::NAN);
            ticks_at_handoff = field(&line, "cpu_ticks").unwrap_or(f64::NAN);
        }
        if line.starts_with("BENCH ready") {
            ready = Some((
                field(&line, "ready").unwrap_or(f64::NAN),
                field(&line, "idle").unwrap_or(f64::NAN),
                field(&line, "cpu_ticks").unwrap_or(f64::NAN),
                field(&line, "rss_kb").unwrap_or(0),
                field(&line, "anon_kb").unwrap_or(0),
                line.clone(),
            ));
        }
        console.push(raw);
    }
    let status = child.wait()?;
    let wall = t0.elapsed();
    // The whole console, to see where each init spends its time.
    let _ = std::fs::write(log, console.join("\n") + "\n");
    let tail = console[console.len().saturating_sub(40)..].join("\n");
    let (Some(h), Some((up, idle, cpu, rss, anon, line))) = (handoff, ready) else {
        bail!("{name}: no STAGE1 handoff/BENCH ready marker ({status}); console tail:\n{tail}");
    };
    let running: Vec<&str> = line
        .split_once(" running")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let missing: Vec<&&str> = DAEMONS.iter().filter(|d| !running.contains(d)).collect();
    if !missing.is_empty() {
        bail!("{name}: services not running at the marker: {missing:?}\n{line}\n{tail}");
    }
    if !status.success() {
        eprintln!("{name}: qemu did not power off by itself ({status}); console tail:\n{tail}");
    }
    Ok(Sample {
        init: name,
        secs: up - h,
        idle: idle - idle_at_handoff,
        pid1_cpu: (cpu - ticks_at_handoff) / 100.0,
        uptime: up,
        rss_kb: rss,
        anon_kb: anon,
        wall,
    })
}
