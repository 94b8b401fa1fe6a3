//! `b8g install --disk` of `images/minimal.nix` into a fresh store, then the
//! disk booted the way a machine boots it: UEFI firmware (OVMF, under qemu
//! TCG) finds systemd-boot on the EFI system partition, whose menu lists the
//! generation; its entry boots the kernel, stage 1 finds the root partition by
//! its label, and b8g-init brings the system up.
//!
//! Needs B8G_INIT_BIN (static b8g-init, set by `cargo xtask test`), qemu,
//! ovmf, dosfstools, mtools, e2fsprogs and apt package lists.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Boots `disk` through OVMF until the console shows `marker` (or `timeout`
/// passes); returns the console text.
fn boot_uefi(disk: &Path, vars: &Path, marker: &str, timeout: Duration) -> String {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-M", "q35", "-accel", "tcg", "-m", "1024", "-nodefaults"])
        .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu-system-x86_64 runs (apt-get install qemu-system-x86)");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                return;
            }
            buf.clear();
        }
    });
    let deadline = Instant::now() + timeout;
    let mut console = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                console.push_str(&line);
                if line.contains(marker) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    console
}

#[test]
fn installed_disk_boots_through_uefi_and_systemd_boot() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    assert!(
        Path::new(OVMF_CODE).is_file(),
        "{OVMF_CODE} is needed (apt-get install ovmf)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let disk = dir.path().join("disk.img");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(&root)
        .args(["install", "--json", "--disk"])
        .arg(&disk)
        .arg("-o")
        .arg(dir.path().join("result"))
        .args(["--b8g-bin", &bin, "images/minimal.nix"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "install failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    assert_eq!(report["generation"], 1, "{report}");
    let files: Vec<&str> = report["espFiles"]
        .as_array()
        .expect("espFiles")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    for f in [
        "EFI/BOOT/BOOTX64.EFI",
        "EFI/systemd/systemd-bootx64.efi",
        "loader/loader.conf",
        "loader/entries/b8g-1.conf",
    ] {
        assert!(files.contains(&f), "{f} missing from the ESP: {files:?}");
    }
    // The disk is as big as the system needs, not a fixed size.
    let size = std::fs::metadata(&disk).unwrap().len() >> 20;
    assert!((300..4096).contains(&size), "disk of {size} MiB");

    let vars: PathBuf = dir.path().join("vars.fd");
    std::fs::copy(OVMF_VARS, &vars).expect("OVMF variables");
    let console = boot_uefi(
        &disk,
        &vars,
        "b8g: system ready in",
        Duration::from_secs(400),
    );
    // The menu (drawn on the serial console by the firmware) lists the generation.
    assert!(
        console.contains("b8g minimal generation 1 ("),
        "no menu entry for generation 1:\n{console}"
    );
    assert!(
        console.contains("b8g: system ready in"),
        "the installed system did not come up:\n{console}"
    );
    assert!(
        console.contains("hello from minimal on b8g"),
        "hello.service did not run:\n{console}"
    );
    assert!(!console.contains("b8g stage 1: skipping"), "{console}");
}
