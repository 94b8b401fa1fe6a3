//! The unikernel adapter end to end (issue 9): `b8g run-vm` builds
//! `images/unikernel-hello.nix` in a fresh store (Debian kernel seed, static
//! busybox, the static b8g-unikernel-shim as /init), boots it under qemu (TCG)
//! and exits with the app's exit status, which the shim hands to the host
//! through qemu's isa-debug-exit; the HTTP image answers curl through a
//! forwarded port; and a rebuild in another fresh store gives the same kernel
//! and initramfs bytes.
//!
//! Needs B8G_INIT_BIN (static b8g-init and b8g-unikernel-shim, set by
//! `cargo xtask test`), qemu-system-x86, curl and apt package lists (for
//! `apt-get download` of the seeds).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn b8g_bin() -> String {
    let bin = std::env::var("B8G_INIT_BIN").expect(
        "set B8G_INIT_BIN to a directory with static bin/b8g-init and bin/b8g-unikernel-shim \
         (cargo xtask test does)",
    );
    assert!(
        Path::new(&bin).join("bin/b8g-unikernel-shim").is_file(),
        "{bin}/bin/b8g-unikernel-shim is missing: build it statically (cargo xtask test does)"
    );
    bin
}

fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is needed for this test and is not installed");
}

fn run_vm(root: &Path, file: &Path, bin: &str, link: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(workspace())
        .args(["-q", "--root"])
        .arg(root)
        .args(["run-vm", "--timeout", "400", "-o"])
        .arg(root.join(link))
        .args(["--b8g-bin", bin])
        .arg(file)
        .output()
        .unwrap()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unikernel_hello_prints_exits_with_the_apps_status_and_rebuilds_identically() {
    need("qemu-system-x86_64");
    let bin = b8g_bin();
    let a = tempfile::tempdir().unwrap();

    // The image as shipped: prints its greeting, exits 0.
    let out = run_vm(
        a.path(),
        Path::new("images/unikernel-hello.nix"),
        &bin,
        "hello",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        stdout.contains("hello from a b8g unikernel"),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains("b8g-unikernel: exec ") && stdout.contains("boottime="),
        "no boot marker:\n{}",
        show(&out)
    );
    let result = a.path().join("hello");
    for f in ["kernel", "initrd", "manifest"] {
        assert!(result.join(f).is_file(), "the image lacks {f}");
    }

    // An app that fails: the host sees its status through qemu.
    let dir = tempfile::tempdir().unwrap();
    let exit3 = dir.path().join("exit3.nix");
    std::fs::write(
        &exit3,
        format!(
            "{{ pkgs }}: import {}/recipes/unikernel {{ inherit pkgs; }} {{\n  \
             name = \"unikernel-exit3\";\n  app = \"${{pkgs.busybox}}/bin/busybox\";\n  \
             args = [ \"sh\" \"-c\" \"echo about to fail; exit 3\" ];\n  env.GREETING = \"x\";\n}}\n",
            workspace().canonicalize().unwrap().display()
        ),
    )
    .unwrap();
    let out3 = run_vm(a.path(), &exit3, &bin, "exit3");
    assert_eq!(out3.status.code(), Some(3), "{}", show(&out3));
    assert!(
        String::from_utf8_lossy(&out3.stdout).contains("about to fail"),
        "{}",
        show(&out3)
    );

    // A second fresh store builds the same bytes.
    let b = tempfile::tempdir().unwrap();
    let out_b = run_vm(
        b.path(),
        Path::new("images/unikernel-hello.nix"),
        &bin,
        "hello",
    );
    assert_eq!(out_b.status.code(), Some(0), "{}", show(&out_b));
    for f in ["kernel", "initrd"] {
        assert_eq!(
            sha256(&a.path().join("hello").join(f)),
            sha256(&b.path().join("hello").join(f)),
            "{f} differs between two fresh builds"
        );
    }
}

#[test]
fn unikernel_http_answers_curl_through_the_forwarded_port() {
    need("qemu-system-x86_64");
    need("curl");
    let bin = b8g_bin();
    let root = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let file = root.path().join("http.nix");
    std::fs::write(
        &file,
        format!(
            "{{ pkgs }}: import {}/images/unikernel-http.nix {{ inherit pkgs; hostPort = {port}; }}\n",
            workspace().canonicalize().unwrap().display()
        ),
    )
    .unwrap();
    // The VM stops once httpd has logged a served request.
    let mut child = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(workspace())
        .args(["-q", "--root"])
        .arg(root.path())
        .args([
            "run-vm",
            "--timeout",
            "400",
            "--until",
            "response:200",
            "-o",
        ])
        .arg(root.path().join("result"))
        .args(["--b8g-bin", &bin])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < Duration::from_secs(400) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let c = Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        if c.status.success() && !c.stdout.is_empty() {
            body = String::from_utf8_lossy(&c.stdout).to_string();
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        body,
        "hello over http from a b8g unikernel\n",
        "curl got no answer\n{}",
        show(&out)
    );
    assert!(out.status.success(), "{}", show(&out));
}
