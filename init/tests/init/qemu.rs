//! The full boot: a stock Debian kernel with an initramfs holding busybox and a static
//! b8g-init as `/init`, booted under qemu (TCG). It must reach default.target, print the
//! ready marker and power off cleanly when a unit runs `b8gctl poweroff`.
//! Slow (minutes): runs only with `cargo xtask test --full` (ignored by default); then qemu-system-x86,
//! linux-image-amd64 (a /boot/vmlinuz-*) and busybox-static are required.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A newc cpio archive in memory, written with the `cpio` crate (uid/gid 0, mtime 0).
pub struct Cpio {
    pub out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    pub fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            ino: 0,
        }
    }
    pub fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        use std::io::Write;
        self.ino += 1;
        let mut w = cpio::NewcBuilder::new(name)
            .ino(self.ino)
            .mode(mode)
            .nlink(1)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(&mut self.out, data.len() as u32);
        w.write_all(data).expect("write to memory");
        w.finish().expect("write to memory");
    }
    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, data, (0, 0));
    }
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
    }
    /// Adds the tree under `dir` as `prefix/...` (directories, regular files with their
    /// permission bits, symlinks), in sorted order so the archive is reproducible.
    pub fn tree(&mut self, dir: &Path, prefix: &str) {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).expect("readlink");
                self.symlink(&rel, &t.to_string_lossy());
            } else if md.is_dir() {
                self.dir(&rel);
                self.tree(&p, &rel);
            } else if md.is_file() {
                let data = std::fs::read(&p).expect("read file");
                self.file(&rel, md.permissions().mode() & 0o7777, &data);
            }
        }
    }
    pub fn finish(self) -> Vec<u8> {
        cpio::newc::trailer(self.out).expect("write to memory")
    }
}

/// The static b8g-init and b8gctl: from `B8G_INIT_BIN` (`cargo xtask test` builds them
/// into target/b8g-bin), else built here (slow: a release build).
pub fn static_init_and_ctl() -> (PathBuf, PathBuf) {
    match std::env::var_os("B8G_INIT_BIN") {
        Some(dir) => {
            let dir = PathBuf::from(dir).join("bin");
            let (i, c) = (dir.join("b8g-init"), dir.join("b8gctl"));
            assert!(
                i.is_file() && c.is_file(),
                "B8G_INIT_BIN={} has no bin/b8g-init and bin/b8gctl",
                dir.display()
            );
            (i, c)
        }
        None => static_binaries(),
    }
}

fn static_binaries() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("static");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &dir)
        .args([
            "build",
            "-p",
            "b8g-init",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--config",
        ])
        .arg(r#"target.x86_64-unknown-linux-gnu.rustflags=["-C","target-feature=+crt-static"]"#)
        .status()
        .expect("run cargo");
    assert!(st.success(), "static build of b8g-init failed");
    let rel = dir.join("x86_64-unknown-linux-gnu/release");
    (rel.join("b8g-init"), rel.join("b8gctl"))
}

/// Boots `kernel` with `initrd` (pc machine, TCG, serial console, no reboot,
/// 300 s at most) and returns qemu's status and the console.
pub fn boot(kernel: &Path, initrd: &Path, mem_mib: u32, append: &str) -> (Output, String) {
    let t0 = std::time::Instant::now();
    let out = Command::new("timeout")
        .args(["300", "qemu-system-x86_64", "-M", "pc", "-m"])
        .arg(mem_mib.to_string())
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        // no_timer_check: under TCG on a busy host the kernel's IO-APIC timer check can
        // fail and panic the boot.
        .arg("-append")
        .arg(format!(
            "console=ttyS0 panic=-1 loglevel=4 no_timer_check {append}"
        ))
        .output()
        .expect("run qemu");
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("qemu ran {:?}", t0.elapsed());
    (out, console)
}

pub fn find_kernel() -> PathBuf {
    let mut k: Vec<PathBuf> = std::fs::read_dir("/boot")
        .expect("/boot is readable: install linux-image-amd64")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    k.sort();
    k.pop()
        .expect("no /boot/vmlinuz-*: install linux-image-amd64")
}

#[test]
#[ignore = "slow: boot b8g-init under qemu; cargo xtask test --full runs it"]
fn qemu_boot_reaches_default_target_and_powers_off() {
    let kernel = find_kernel();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static is required");
    assert!(
        Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_ok(),
        "qemu-system-x86 is required"
    );
    let (init, ctl) = static_init_and_ctl();
    let mut c = Cpio::new();
    for d in [
        "bin",
        "sbin",
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "etc",
        "etc/systemd",
        "etc/systemd/system",
        "etc/systemd/system/multi-user.target.wants",
        "var",
        "var/log",
        "var/lib",
        "root",
    ] {
        c.dir(d);
    }
    c.entry("dev/console", 0o020600, &[], (5, 1));
    c.file("init", 0o755, &std::fs::read(&init).expect("read b8g-init"));
    c.file(
        "bin/b8gctl",
        0o755,
        &std::fs::read(&ctl).expect("read b8gctl"),
    );
    c.file(
        "bin/busybox",
        0o755,
        &std::fs::read(busybox).expect("read busybox"),
    );
    for t in ["sh", "sleep", "echo", "cat", "ls", "mount", "true"] {
        c.symlink(&format!("bin/{t}"), "busybox");
    }
    c.file("etc/hostname", 0o644, b"b8g-qemu\n");
    c.file(
        "etc/systemd/system/hello.service",
        0o644,
        b"[Unit]\nDescription=hello\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo hello from $$(cat /proc/sys/kernel/hostname)'\nStandardOutput=journal+console\n[Install]\nWantedBy=multi-user.target\n",
    );
    c.file(
        "etc/systemd/system/off.service",
        0o644,
        b"[Unit]\nAfter=hello.service\n[Service]\nExecStart=/bin/sh -c 'sleep 1; /bin/b8gctl poweroff'\n[Install]\nWantedBy=multi-user.target\n",
    );
    // No b8g.system= on the command line: like systemd, only links enable units.
    for u in ["hello.service", "off.service"] {
        c.symlink(
            &format!("etc/systemd/system/multi-user.target.wants/{u}"),
            &format!("../{u}"),
        );
    }
    let archive = c.finish();
    let tmp = tempfile::tempdir().expect("tempdir");
    let initrd = tmp.path().join("initrd.cpio");
    std::fs::write(&initrd, &archive).expect("write initrd");
    let (out, console) = boot(&kernel, &initrd, 512, "");
    for l in console
        .lines()
        .filter(|l| l.contains("b8g") || l.contains("hello from"))
    {
        eprintln!("console: {l}");
    }
    assert!(
        out.status.success(),
        "qemu did not power off cleanly ({:?}):\n{console}",
        out.status
    );
    assert!(console.contains("b8g: system ready in"), "{console}");
    assert!(console.contains("hello from b8g-qemu"), "{console}");
    assert!(
        console.contains("shutting down (Poweroff)") && console.contains("reached final stage"),
        "{console}"
    );
    assert!(console.contains("reboot: Power down"), "{console}");
}
