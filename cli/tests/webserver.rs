//! The web-server journey: images/webserver.nix (nginx from the Debian seed,
//! configured by services.nginx) boots under qemu (TCG) and `curl` on the host
//! fetches its page through the port forward of `virtualisation.forwardPorts`.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, curl, erofs-utils and apt package lists.

mod serial_login_support;

use serial_login_support::{free_port, require_tool, wrapper, VmSession};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn webserver_serves_its_page_through_the_forwarded_port() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    require_tool("curl", "curl");
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    // The image forwards 8080; a test takes whatever port is free.
    let file = wrapper(
        root.path(),
        "images/webserver.nix",
        &format!(
            "  virtualisation.forwardPorts = lib.mkForce [ {{ from = \"host\"; host.port = {port}; guest.port = 80; }} ];"
        ),
    );
    let mut vm = VmSession::start(root.path(), &file);
    vm.expect("b8g: system ready", Duration::from_secs(500));
    let url = format!("http://127.0.0.1:{port}/");
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(90) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", &url])
            .output()
            .expect("cannot run curl");
        let body = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && body.contains("Hello from nginx on b8g") {
            return;
        }
        last = format!("{body}{}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_secs(2));
    }
    let _ = vm.try_expect("\u{0}", Duration::from_millis(100));
    panic!(
        "curl {url} never got the page; last answer:\n{last}\nconsole:\n{}",
        vm.console
    );
}
