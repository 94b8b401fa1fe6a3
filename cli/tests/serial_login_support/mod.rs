//! Driving a VM started by `b8g run-vm` from a test, expect-style: the test
//! writes to qemu's stdin (the guest's serial console) and waits for text on
//! its stdout. Shared by the serial-login and web-server journeys.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The static b8g-init the system needs (prepared by `cargo xtask test`).
pub fn b8g_bin() -> String {
    std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)")
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails (never skips) when a tool the test needs is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is needed by this test: install {package}");
}

/// A running `b8g run-vm` (in its own process group, so qemu dies with it).
pub struct VmSession {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Vec<u8>>,
    /// Everything the console printed so far.
    pub console: String,
    /// Where in `console` the next wait starts looking.
    cursor: usize,
}

impl VmSession {
    /// Builds `file` into a fresh store under `root` and boots it, console on pipes.
    /// Its temporary files go to `root/tmp` (see [`leftovers`]).
    pub fn start(root: &Path, file: &Path) -> VmSession {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).expect("cannot create the VM's TMPDIR");
        let mut child = Command::new(env!("CARGO_BIN_EXE_b8g"))
            .current_dir(workspace())
            .env("TMPDIR", &tmp)
            .args(["-q", "--root"])
            .arg(root)
            .args(["run-vm", "-o"])
            .arg(root.join("result"))
            .args(["--b8g-bin", &b8g_bin()])
            .arg(file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("cannot start b8g run-vm");
        let stdin = child.stdin.take().expect("stdin was piped");
        let (tx, rx) = mpsc::channel();
        for mut out in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match out.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        VmSession {
            child,
            stdin,
            rx,
            console: String::new(),
            cursor: 0,
        }
    }

    /// Waits until the console prints `needle` (after the previous match);
    /// returns how long it took. Panics with the console so far on timeout or exit.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(i) = self.console[self.cursor..].find(needle) {
                self.cursor += i + needle.len();
                return start.elapsed();
            }
            let left = timeout.saturating_sub(start.elapsed());
            match self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(bytes) => self.console.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Timeout) if start.elapsed() < timeout => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {needle:?} on the console within {timeout:?}; console:\n{}",
                    self.console
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the VM ended before printing {needle:?}; console:\n{}",
                    self.console
                ),
            }
        }
    }

    /// Like [`expect`](Self::expect), but gives up quietly (None) on timeout.
    pub fn try_expect(&mut self, needle: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if let Some(i) = self.console[self.cursor..].find(needle) {
                self.cursor += i + needle.len();
                return Some(start.elapsed());
            }
            if start.elapsed() >= timeout {
                return None;
            }
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(bytes) => self.console.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the VM ended before printing {needle:?}; console:\n{}",
                    self.console
                ),
            }
        }
    }

    /// Waits (up to `timeout`) for `b8g run-vm` to end by itself; returns its status,
    /// or None when it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            while let Ok(bytes) = self.rx.try_recv() {
                self.console.push_str(&String::from_utf8_lossy(&bytes));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // What the console still held when qemu ended.
                while let Ok(bytes) = self.rx.recv_timeout(Duration::from_millis(200)) {
                    self.console.push_str(&String::from_utf8_lossy(&bytes));
                }
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` on the serial console.
    pub fn send(&mut self, text: &str) {
        self.stdin
            .write_all(text.as_bytes())
            .and_then(|()| self.stdin.flush())
            .expect("cannot write to the VM's console");
    }
}

impl Drop for VmSession {
    fn drop(&mut self) {
        // The whole group: b8g and the qemu it started.
        let pgid = self.child.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// What `b8g run-vm` left in `root/tmp` after [`VmSession`] killed it (nothing may be:
/// every test's SIGKILL once left the VM's ~700 MB scratch disk image there).
pub fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("tmp"))
        .expect("the VM's TMPDIR")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Writes a system file that imports `image` (relative to the workspace) and adds `extra` (module body).
pub fn wrapper(dir: &Path, image: &str, extra: &str) -> PathBuf {
    let file = dir.join("system.nix");
    let image = workspace()
        .join(image)
        .canonicalize()
        .expect("image file exists");
    std::fs::write(
        &file,
        format!(
            "{{ lib, pkgs, ... }}:\n{{\n  imports = [ {} ];\n{extra}\n}}\n",
            image.display()
        ),
    )
    .expect("cannot write the wrapper system file");
    file
}

/// A host port nobody listens on right now (for a VM's forwarded port).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A new ed25519 key pair at `path` (and `path.pub`); returns the public key line.
pub fn keygen(path: &Path) -> String {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "b8g-test", "-f"])
        .arg(path)
        .status()
        .expect("cannot run ssh-keygen");
    assert!(st.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh` as root-less batch client to 127.0.0.1:`port` with `key` only, any
/// host key accepted (each VM makes its own); `extra` goes before the target.
pub fn ssh(port: u16, key: &Path, user: &str, command: &str, extra: &[&str]) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(extra)
        .arg("-i")
        .arg(key)
        .args([
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            command,
        ])
        .output()
        .expect("cannot run ssh")
}
