//! `cargo xtask bench install`: an installed b8g system against Debian 12 with
//! systemd, both booted through UEFI firmware (OVMF) under qemu TCG on the same
//! kernel (issue 17).
//!
//! - b8g: `b8g install --disk` of images/minimal.nix with a zero menu timeout,
//!   booted from its disk: OVMF → systemd-boot → the kernel → stage 1 →
//!   b8g-init.
//! - Debian: mmdebstrap's minbase with systemd-sysv, udev, initramfs-tools and
//!   the linux-image package b8g's lock pins (so the same kernel build), its
//!   root on an ext4 disk; OVMF starts that kernel with Debian's own initramfs
//!   (qemu's `-kernel`, which goes through the firmware's loader: no boot menu).
//!
//! Each system gets one extra unit ordered after `multi-user.target` (wanted
//! by it) that prints `BENCH ready <uptime>` on the console and powers off.
//! Firmware-to-ready is the host's wall time from starting qemu to that line;
//! kernel-to-ready is the guest's uptime in it. The systems alternate run by
//! run; every run is printed, then medians and ratios (b8g / Debian).

use crate::debian_image::{debian_root, install_ready_unit, make_ext4, write_mode};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

const READY_SCRIPT: &str = "#!/bin/sh
read -r up idle < /proc/uptime
echo \"BENCH ready $up\" > /dev/console
systemctl --no-block poweroff
";

const READY_UNIT: &str = "[Unit]
Description=Benchmark marker: the system is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/bench-ready

[Install]
WantedBy=multi-user.target
";

/// images/minimal.nix with the same marker, and no menu wait.
fn b8g_config(workspace: &Path) -> String {
    format!(
        r#"{{ lib, pkgs, ... }}: {{
  imports = [ {}/images/minimal.nix ];
  boot.loader.timeout = 0;
  systemd.services.bench-ready = {{
    description = "Benchmark marker: the system is up";
    wantedBy = [ "multi-user.target" ];
    after = [ "multi-user.target" ];
    serviceConfig.Type = "oneshot";
    script = ''
      read -r up idle < /proc/uptime
      echo "BENCH ready $up" > /dev/console
      ${{pkgs.busybox}}/bin/poweroff
    '';
  }};
}}
"#,
        workspace.display()
    )
}

/// The kernel version b8g's lock pins for `linux-image` (the override's when it has one).
fn pinned_kernel() -> Result<String> {
    let dir = crate::root().join("recipes/bootstrap");
    for file in ["pins.override.nix", "pins.nix"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let Some(block) = text.split("\n  linux-image = {").nth(1) else {
            continue;
        };
        let block = block.split("\n  };").next().unwrap_or_default();
        if let Some(v) = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("kernelVersion = \""))
        {
            return Ok(v.trim_end_matches("\";").to_string());
        }
    }
    bail!("no linux-image kernelVersion in recipes/bootstrap/pins.nix")
}

struct Sample {
    system: &'static str,
    firmware_to_ready: f64,
    kernel_to_ready: f64,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .context("--runs needs a number")?
                    .parse()
                    .context("--runs needs a number")?
            }
            other => bail!("usage: cargo xtask bench install [--runs N] (unknown {other})"),
        }
    }
    crate::ensure_packages(&[
        "qemu-system-x86",
        "ovmf",
        "mmdebstrap",
        "e2fsprogs",
        "dosfstools",
        "mtools",
    ])?;
    crate::ensure_apt_lists()?;
    let bin = match std::env::var_os("B8G_INIT_BIN") {
        Some(d) => PathBuf::from(d),
        None => crate::build_static_init()?,
    };
    let work = crate::root().join("target/bench-install");
    std::fs::create_dir_all(&work)?;

    // b8g: installed onto its disk in a store of the bench's own.
    let config = work.join("b8g.nix");
    std::fs::write(&config, b8g_config(&crate::root()))?;
    let b8g_disk = work.join("b8g.img");
    let _ = std::fs::remove_file(&b8g_disk);
    crate::run(
        Command::new(bin.join("bin/b8g"))
            .current_dir(crate::root())
            .args(["-q", "--root"])
            .arg(work.join("store"))
            .args(["install", "--force", "--no-out-link", "--disk"])
            .arg(&b8g_disk)
            .arg("--b8g-bin")
            .arg(&bin)
            .arg(&config),
    )?;

    // Debian 12 on the kernel b8g pins.
    let kernel_version = pinned_kernel()?;
    let rootfs = work.join("debian-root");
    debian_root(
        &rootfs,
        &format!("systemd-sysv,udev,initramfs-tools,linux-image-{kernel_version}"),
    )?;
    install_ready_unit(&rootfs, READY_SCRIPT, READY_UNIT)?;
    write_mode(&rootfs.join("etc/hostname"), b"debian\n", 0o644)?;
    write_mode(
        &rootfs.join("etc/fstab"),
        b"/dev/vda / ext4 rw,errors=remount-ro 0 1\n",
        0o644,
    )?;
    let debian_kernel = rootfs.join(format!("boot/vmlinuz-{kernel_version}"));
    let debian_initrd = rootfs.join(format!("boot/initrd.img-{kernel_version}"));
    for f in [&debian_kernel, &debian_initrd] {
        if !f.is_file() {
            bail!("{} missing from the Debian root", f.display());
        }
    }
    let debian_disk = work.join("debian.ext4");
    make_ext4(
        Some(&rootfs),
        &debian_disk,
        "debian",
        "5c4b8a9e-3d1f-4b6a-9e0c-7f2a1d3b4c5e",
        "2G",
    )?;

    let mut samples = Vec::new();
    for r in 0..runs {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let s = if i == 0 {
                boot(&work, "b8g", &b8g_disk, None, r)?
            } else {
                boot(
                    &work,
                    "debian",
                    &debian_disk,
                    Some((&debian_kernel, &debian_initrd)),
                    r,
                )?
            };
            eprintln!(
                "run {}: {:<6} firmware to ready {:.2} s, kernel to ready {:.2} s",
                r + 1,
                s.system,
                s.firmware_to_ready,
                s.kernel_to_ready
            );
            samples.push(s);
        }
    }
    let med = |name: &str, f: &dyn Fn(&Sample) -> f64| -> f64 {
        let mut v: Vec<f64> = samples.iter().filter(|s| s.system == name).map(f).collect();
        crate::median(&mut v)
    };
    let (bf, df) = (
        med("b8g", &|s| s.firmware_to_ready),
        med("debian", &|s| s.firmware_to_ready),
    );
    let (bk, dk) = (
        med("b8g", &|s| s.kernel_to_ready),
        med("debian", &|s| s.kernel_to_ready),
    );
    println!(
        "install boot benchmark: {runs} runs each, qemu TCG q35 + OVMF, kernel {kernel_version}"
    );
    println!("                          b8g     Debian    ratio");
    println!("firmware→ready (s)  {bf:>10.2} {df:>10.2} {:>8.2}", bf / df);
    println!("kernel→ready (s)    {bk:>10.2} {dk:>10.2} {:>8.2}", bk / dk);
    Ok(())
}

/// One boot through OVMF; `direct` is Debian's kernel and initrd, started by
/// the firmware (qemu's -kernel) with its root on `disk`.
fn boot(
    work: &Path,
    system: &'static str,
    disk: &Path,
    direct: Option<(&Path, &Path)>,
    run: usize,
) -> Result<Sample> {
    let vars = work.join(format!("vars-{system}.fd"));
    std::fs::copy(OVMF_VARS, &vars).with_context(|| format!("{OVMF_VARS}: install ovmf"))?;
    let mut cmd = Command::new("timeout");
    cmd.args(["600", "qemu-system-x86_64", "-M", "q35", "-accel", "tcg"])
        .args(["-m", "1024", "-nodefaults", "-display", "none"])
        .args(["-serial", "stdio", "-no-reboot"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!(
            "file={},if=virtio,format=raw,snapshot=on",
            disk.display()
        ));
    if let Some((kernel, initrd)) = direct {
        cmd.arg("-kernel")
            .arg(kernel)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg("root=/dev/vda rw console=ttyS0,115200 panic=-1 quiet");
    }
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    let out = child.stdout.take().context("qemu stdout")?;
    let mut console = Vec::new();
    let mut ready = None;
    for line in BufReader::new(out).split(b'\n') {
        let raw = String::from_utf8_lossy(&line.unwrap_or_default()).into_owned();
        if ready.is_none() {
            if let Some(up) = raw
                .find("BENCH ready ")
                .and_then(|i| raw[i + 12..].split_whitespace().next())
                .and_then(|u| u.parse::<f64>().ok())
            {
                ready = Some((t0.elapsed().as_secs_f64(), up));
            }
        }
        console.push(raw);
    }
    let status = child.wait()?;
    let log = work.join(format!("console-{system}-{}.log", run + 1));
    let _ = std::fs::write(&log, console.join("\n") + "\n");
    let Some((wall, up)) = ready else {
        let tail = console[console.len().saturating_sub(40)..].join("\n");
        bail!("{system}: no BENCH ready marker ({status}); console tail:\n{tail}");
    };
    Ok(Sample {
        system,
        firmware_to_ready: wall,
        kernel_to_ready: up,
    })
}
