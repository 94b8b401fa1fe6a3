//! Shared by the unikernel tests: boot an image with `b8g run-vm` and fetch
//! its page through the forwarded port while the VM runs.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `b8g run-vm FILE` on the store under `root` (stopping when the
/// console shows `until`) and polls `http://127.0.0.1:PORT/` with curl until
/// it answers, the VM ends or `timeout` passes; then requests [`DONE_PATH`]. Returns the body (empty when
/// nothing answered) and the VM's output.
/// The request the tests make once they have their page; `until` should match its
/// log line, so the VM stops after the page reached curl.
pub const DONE_PATH: &str = "/b8g-test-done";

pub fn run_vm_and_curl(
    root: &Path,
    workspace: &Path,
    b8g_bin: &str,
    file: &Path,
    port: u16,
    until: &str,
    timeout: Duration,
) -> (String, Output) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(workspace)
        .args(["-q", "--root"])
        .arg(root)
        .args(["run-vm", "--timeout"])
        .arg(timeout.as_secs().to_string())
        .args(["--until", until, "-o"])
        .arg(root.join("result"))
        .args(["--b8g-bin", b8g_bin])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run b8g run-vm");
    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < timeout {
        if child.try_wait().expect("wait for run-vm").is_some() {
            break;
        }
        let c = Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("curl is needed (apt-get install curl)");
        if c.status.success() && !c.stdout.is_empty() {
            body = String::from_utf8_lossy(&c.stdout).to_string();
            // Only now is the VM told to stop (`until` names this request): stopping
            // it on the first request's log line could cut that answer off in flight.
            let _ = Command::new("curl")
                .args(["-s", "--max-time", "5"])
                .arg(format!("http://127.0.0.1:{port}{DONE_PATH}"))
                .output();
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().expect("run-vm output");
    (body, out)
}
