//! The main journey: `b8g run-vm images/minimal.nix` evaluates the system with
//! b8g's evaluator, fetches the Debian seeds (kernel, busybox), builds the
//! generation and a root image in a fresh store, and boots it under qemu (TCG)
//! with b8g-init as PID 1 until the system's hello service greets the console.
//!
//! Needs B8G_INIT_BIN (static b8g-init, set by `cargo xtask test`), qemu,
//! erofs-utils and apt package lists (for `apt-get download`).

use std::path::Path;
use std::process::Command;

#[test]
fn minimal_image_builds_and_boots_to_its_services() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let root = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args(["run-vm", "--until", "hello from", "--timeout", "400", "-o"])
        .arg(root.path().join("result"))
        .args(["--b8g-bin", &bin, "images/minimal.nix"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run-vm failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("b8g stage 1:"),
        "stage 1 did not run:\n{stdout}"
    );
    assert!(
        stdout.contains("b8g: system ready in"),
        "b8g-init did not reach its target:\n{stdout}"
    );
    assert!(
        stdout.contains("hello from minimal on b8g"),
        "hello.service did not run:\n{stdout}"
    );
    // The result link points at the generation, laid out as stage 1 and b8g-init expect.
    let result = root.path().join("result");
    for entry in [
        "kernel",
        "initrd",
        "init",
        "etc",
        "units",
        "activate",
        "kernel-params",
        "sw",
    ] {
        assert!(
            result.join(entry).symlink_metadata().is_ok(),
            "generation lacks {entry}"
        );
    }
    // Regression: every run-vm left a 400 MiB result.img behind; only --image keeps it.
    assert!(
        !root.path().join("result.img").exists(),
        "run-vm left its disk image beside the result link"
    );

    // Regression: `--timeout` without `--until` was ignored. Now it stops the VM
    // at its console and run-vm exits 124, as timeout(1) does.
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args(["run-vm", "--timeout", "5", "--image", "-o"])
        .arg(root.path().join("result"))
        .args(["--b8g-bin", &bin, "images/minimal.nix"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.contains("stopped the VM after 5 s (--timeout)"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "the VM ran on"
    );
    assert!(root.path().join("result.img").is_file(), "--image keeps it");
}
