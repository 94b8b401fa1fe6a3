//! services.openssh booted: images/minimal.nix with sshd under qemu (TCG), the
//! host's own OpenSSH client logging in through a forwarded port with a key from
//! users.users.<name>.openssh.authorizedKeys, as root (PermitRootLogin
//! prohibit-password) and as a normal user; a password for root is refused
//! (prohibit-password), and a key nobody authorized is refused.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, ssh and ssh-keygen on the host,
//! erofs-utils and apt package lists.

mod serial_login_support;

use serial_login_support::{free_port, keygen, require_tool, ssh, wrapper, VmSession};
use std::process::Output;
use std::time::{Duration, Instant};

#[test]
fn ssh_logins_with_authorized_keys_through_the_forwarded_port() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    require_tool("ssh", "openssh-client");
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = root.path().join("admin_key");
    let alice = root.path().join("alice_key");
    let stranger = root.path().join("stranger_key");
    let (admin_pub, alice_pub) = (keygen(&admin), keygen(&alice));
    keygen(&stranger);
    let file = wrapper(
        root.path(),
        "images/minimal.nix",
        &format!(
            r#"  services.openssh.enable = true;
  # One ed25519 host key: an RSA-4096 one takes long under TCG.
  services.openssh.hostKeys = [ {{ type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }} ];
  users.users.root.openssh.authorizedKeys.keys = [ "{admin_pub}" ];
  users.users.alice = {{ isNormalUser = true; openssh.authorizedKeys.keys = [ "{alice_pub}" ]; }};
  virtualisation.forwardPorts = [ {{ from = "host"; host.port = {port}; guest.port = 22; }} ];"#
        ),
    );
    let mut vm = VmSession::start(root.path(), &file);
    vm.expect("b8g: system ready", Duration::from_secs(500));
    // sshd may still be making its host key: retry until it answers.
    let start = Instant::now();
    let out = loop {
        let out = ssh(
            port,
            &admin,
            "root",
            "echo root-$(id -u) on $(hostname)",
            &[],
        );
        if out.status.success() || start.elapsed() > Duration::from_secs(120) {
            break out;
        }
        std::thread::sleep(Duration::from_secs(3));
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(
        out.status.success() && text(&out).contains("root-0 on "),
        "root's key login failed: {}\nconsole:\n{}",
        text(&out),
        vm.console
    );
    let out = ssh(
        port,
        &alice,
        "alice",
        "id -un; echo $HOME; command -v sudo",
        &[],
    );
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("alice\n/home/alice\n/run/wrappers/bin/sudo"),
        "alice's key login: {t}"
    );
    // A key nobody authorized, and alice's key for root: refused.
    let out = ssh(port, &stranger, "root", "true", &[]);
    assert!(
        !out.status.success() && text(&out).contains("Permission denied"),
        "{}",
        text(&out)
    );
    let out = ssh(port, &alice, "root", "true", &[]);
    assert!(
        !out.status.success() && text(&out).contains("Permission denied"),
        "{}",
        text(&out)
    );
    // The host key was made at the first start and is the one sshd presents.
    let out = ssh(
        port,
        &admin,
        "root",
        "stat -c '%a %U' /etc/ssh/ssh_host_ed25519_key; b8gctl is-active sshd",
        &[],
    );
    assert!(text(&out).contains("600 root\nactive"), "{}", text(&out));
    // sshd's syslog(3) lines reach /dev/log and the journal, in sshd.service's log.
    let out = ssh(
        port,
        &admin,
        "root",
        "journalctl -u sshd -t sshd -o cat",
        &[],
    );
    let log = text(&out);
    assert!(
        log.contains("Accepted publickey for alice from")
            && log.contains("Accepted publickey for root from")
            && log.contains("Server listening on")
            && log.contains("pam_unix(sshd:session): session opened for user alice"),
        "{log}"
    );
    // libpam reads /etc/pam.d/other for every service (security.pam's deny-all
    // fallback): it complained "no default config other" while that was missing.
    assert!(!log.contains("no default config"), "{log}");
}
