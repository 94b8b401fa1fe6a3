//! Test "machines" reached over real SSH: each is Debian's sshd on a loopback
//! port of its own, with a b8g store root of its own (set for every login
//! through sshd's `SetEnv`), and a key pair for root logins.
//!
//! Needs Debian's openssh-server and openssh-client (`cargo xtask test`
//! installs them) and root (sshd's privilege separation).

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const B8G: &str = env!("CARGO_BIN_EXE_b8g");

/// One sshd, killed when dropped.
pub struct Machine {
    /// Holds its keys, configuration, log and store root.
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Machine {
    /// Starts sshd in `dir` (created); logins get `B8G_STORE_DIR=/nix/store`
    /// and a store root under `dir/store`.
    pub fn start(dir: &Path) -> Machine {
        assert!(
            Path::new("/usr/sbin/sshd").is_file() && which("ssh"),
            "this test needs Debian's openssh-server and openssh-client"
        );
        fs::create_dir_all(dir.join("store")).expect("mkdir");
        // sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        for key in ["host_key", "id"] {
            if !dir.join(key).exists() {
                let st = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.join(key))
                    .status()
                    .expect("ssh-keygen");
                assert!(st.success(), "ssh-keygen failed");
            }
        }
        fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).expect("authorized_keys");
        // What Nix runs as `remote-program`: b8g's serve with this store.
        let wrapper = dir.join("b8g-remote");
        fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec {B8G} store serve --stdio \"$@\"\n"),
        )
        .expect("write wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                     AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                     PasswordAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
                     SetEnv B8G_STORE_DIR=/nix/store B8G_STATE_DIR=/nix/var/nix B8G_STORE_ROOT={d}/store B8G_CONF={d}/none.conf\n",
                    d = dir.display()
                ),
            )
            .expect("write sshd_config");
            let log = dir.join("sshd.log");
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("log"))
                .spawn()
                .expect("start sshd");
            let mut m = Machine {
                dir: dir.to_owned(),
                port,
                child,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return m;
                }
                if m.child.try_wait().expect("wait").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = fs::read_to_string(&log).unwrap_or_default();
            let _ = m.child.kill();
        }
        panic!("sshd did not start:\n{last_log}");
    }

    /// `NIX_SSHOPTS` (and ssh arguments) that log in to it as root.
    pub fn ssh_opts(&self) -> String {
        format!(
            "-p {} -i {}/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.port,
            self.dir.display()
        )
    }

    /// Nix's store URI of it, with b8g's serve as the remote program.
    pub fn nix_uri(&self) -> String {
        format!(
            "ssh://root@127.0.0.1?remote-program={}/b8g-remote",
            self.dir.display()
        )
    }

    /// A `b8g` command on its store.
    pub fn b8g(&self) -> Command {
        let mut c = Command::new(B8G);
        c.args([
            "--store-dir",
            "/nix/store",
            "--state-dir",
            "/nix/var/nix",
            "--root",
        ])
        .arg(self.dir.join("store"))
        .env("B8G_CONF", self.dir.join("none.conf"));
        c
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn which(exe: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(exe).is_file()))
}

impl Machine {
    /// Its line in Nix's machines format for b8g's `--builders`: the port in
    /// the URI, its own key, and its host key pinned.
    pub fn builder_line(&self, remote_program: &Path, max_jobs: usize, speed: u32) -> String {
        let host_key = fs::read_to_string(self.dir.join("host_key.pub")).expect("host key");
        let b64 = data_encoding::BASE64.encode(host_key.trim().as_bytes());
        format!(
            "ssh://root@127.0.0.1:{}?remote-program={} x86_64-linux {}/id {max_jobs} {speed} - - {b64}",
            self.port,
            remote_program.display(),
            self.dir.display()
        )
    }

    /// The wrapper that runs b8g's serve on this machine.
    pub fn b8g_program(&self) -> PathBuf {
        self.dir.join("b8g-remote")
    }

    /// A wrapper running Nix 2.8's `nix-store` on a Nix store of this
    /// machine's own (under `dir/nix`), built without build users or caches.
    pub fn nix_program(&self) -> PathBuf {
        let p = self.dir.join("nix-remote");
        fs::write(
            &p,
            format!(
                "#!/bin/sh\nexport NIX_CONFIG='build-users-group =\nsubstituters ='\n\
                 exec nix-store --store 'local?root={}/nix' \"$@\"\n",
                self.dir.display()
            ),
        )
        .expect("write wrapper");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }
}
