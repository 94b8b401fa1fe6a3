//! images/server.nix booted under qemu (TCG), checked from the host through
//! forwarded ports: an ssh login by key runs a command, psql runs a query in
//! the database services.postgresql.ensureDatabases made (owned by its
//! ensureUsers role), nginx answers, and Redis, running and answering inside
//! the guest, is refused from outside because its port is not in
//! networking.firewall.allowedTCPPorts. The address came from DHCP.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, ssh, psql, curl, e2fsprogs and
//! apt package lists.

mod serial_login_support;

use serial_login_support::{free_port, keygen, require_tool, wrapper, VmSession};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// As root.
fn ssh(port: u16, key: &Path, command: &str) -> Output {
    serial_login_support::ssh(port, key, "root", command, &[])
}

/// Retries `f` until it succeeds or `limit` passes (services start after
/// "system ready" only when they are slow, but TCG is slow).
fn until(limit: Duration, mut f: impl FnMut() -> Output) -> Output {
    let start = Instant::now();
    loop {
        let out = f();
        if out.status.success() || start.elapsed() > limit {
            return out;
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// What a Redis server answers to PING on `port`, if anything within a few seconds.
fn redis_ping(port: u16) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_server_image_serves_ssh_postgres_and_http_and_refuses_the_rest() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    require_tool("ssh", "openssh-client");
    require_tool("psql", "postgresql-client");
    require_tool("curl", "curl");
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("key");
    let public = keygen(&key);
    let (ssh_port, http_port, pg_port, redis_port) =
        (free_port(), free_port(), free_port(), free_port());
    let file = wrapper(
        root.path(),
        "images/server.nix",
        &format!(
            r#"  users.users.root.openssh.authorizedKeys.keys = [ "{public}" ];
  # One ed25519 host key: an RSA-4096 one takes long under TCG.
  services.openssh.hostKeys = [ {{ type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }} ];
  # PostgreSQL for the host too: TCP, the firewall, and the app role without a password.
  services.postgresql.enableTCPIP = true;
  services.postgresql.authentication = "host app app 0.0.0.0/0 trust";
  networking.firewall.allowedTCPPorts = [ 5432 ];
  # Redis listens everywhere, so only the firewall keeps the host out.
  services.redis.servers."".bind = null;
  services.redis.servers."".settings.protected-mode = false;
  virtualisation.forwardPorts = lib.mkForce [
    {{ from = "host"; host.port = {ssh_port}; guest.port = 22; }}
    {{ from = "host"; host.port = {http_port}; guest.port = 80; }}
    {{ from = "host"; host.port = {pg_port}; guest.port = 5432; }}
    {{ from = "host"; host.port = {redis_port}; guest.port = 6379; }}
  ];"#,
        ),
    );
    let mut vm = VmSession::start(root.path(), &file);
    vm.expect("b8g: system ready", Duration::from_secs(900));

    let out = until(Duration::from_secs(180), || {
        ssh(
            ssh_port,
            &key,
            "echo ssh-as-$(id -un)-on-$(hostname); ip -4 addr show eth0",
        )
    });
    assert!(
        out.status.success() && text(&out).contains("ssh-as-root-on-server"),
        "ssh: {}\nconsole:\n{}",
        text(&out),
        vm.console
    );
    assert!(
        text(&out).contains("inet 10.0.2.15/24"),
        "DHCP gave no address: {}",
        text(&out)
    );

    let out = until(Duration::from_secs(180), || {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg_port.to_string(), "-U", "app", "-d", "app", "-At"])
            .args(["-c", "SELECT current_database() || ':' || current_user || ':' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("cannot run psql")
    });
    assert!(
        out.status.success() && text(&out).contains("app:app:app"),
        "psql: {}\nconsole:\n{}",
        text(&out),
        vm.console
    );

    let out = until(Duration::from_secs(60), || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{http_port}/"))
            .output()
            .expect("cannot run curl")
    });
    assert!(
        text(&out).contains("<h1>b8g server</h1>"),
        "nginx: {}",
        text(&out)
    );

    // Redis answers inside, and the firewall keeps the host out.
    let out = until(Duration::from_secs(60), || {
        ssh(ssh_port, &key, "redis-cli -h 10.0.2.15 ping")
    });
    assert!(
        text(&out).contains("PONG"),
        "redis inside: {}\n{}",
        text(&out),
        text(&ssh(
            ssh_port,
            &key,
            "b8gctl status redis; cat /run/redis/redis.conf; b8gctl log -u redis | tail -30"
        ))
    );
    let answer = redis_ping(redis_port);
    assert!(
        !answer.contains("PONG"),
        "redis answered through the firewall: {answer:?}\n{}",
        text(&ssh(
            ssh_port,
            &key,
            "b8gctl status firewall; b8gctl log -u firewall | tail; nft list ruleset; lsmod | grep nf"
        ))
    );
    let out = ssh(
        ssh_port,
        &key,
        "nft list ruleset; b8gctl is-active firewall chronyd network-dhcp",
    );
    let t = text(&out);
    assert!(
        t.contains("tcp dport { 22, 80, 5432 } accept") || t.contains("tcp dport { 22, 80, 5432 }"),
        "{t}"
    );
    assert!(t.contains("active\nactive\nactive"), "{t}");
}
