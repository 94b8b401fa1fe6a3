//! The remote case of `cargo xtask bench build`: the fan built on two
//! "remote" machines — Debian's sshd on two loopback ports, each running
//! `b8g store serve --stdio` on a store of its own — by `b8g-build` and by
//! `nix-build` (Nix 2.8's build hook) with the same machines file and `-j0`.
//! Both reach the machines through one ssh client configuration
//! (`NIX_SSHOPTS=-F FILE`, host aliases carrying ports and keys), since Nix
//! 2.8 takes no port in a builder URI. Each tool builds derivations of its
//! own salt, so neither finds the other's outputs on the machines.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Two machines, killed when dropped.
pub(super) struct Machines {
    children: Vec<Child>,
    /// The machines file both tools read.
    pub machines_file: PathBuf,
    /// The ssh client configuration (`NIX_SSHOPTS=-F …`).
    pub ssh_config: PathBuf,
}

impl Drop for Machines {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn keygen(path: &Path) -> Result<()> {
    if !path.exists() {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path)
            .status()
            .context("ssh-keygen (Debian package openssh-client)")?;
        if !st.success() {
            bail!("ssh-keygen failed");
        }
    }
    Ok(())
}

/// Starts `n` machines under `dir`, each serving with `b8g` (store directory
/// /nix/store, `max_jobs` builds at once).
pub(super) fn start(dir: &Path, b8g: &Path, n: usize, max_jobs: usize) -> Result<Machines> {
    if !Path::new("/usr/sbin/sshd").is_file() {
        bail!("the remote case needs sshd (Debian package openssh-server)");
    }
    fs::create_dir_all("/run/sshd")?;
    fs::create_dir_all(dir)?;
    let key = dir.join("id");
    keygen(&key)?;
    let mut m = Machines {
        children: Vec::new(),
        machines_file: dir.join("machines"),
        ssh_config: dir.join("ssh_config"),
    };
    let mut machines = String::new();
    let mut config = String::new();
    for i in 0..n {
        let d = dir.join(format!("machine-{i}"));
        fs::create_dir_all(d.join("store"))?;
        keygen(&d.join("host_key"))?;
        fs::copy(dir.join("id.pub"), d.join("authorized_keys"))?;
        let wrapper = d.join("b8g-remote");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} store serve --stdio \"$@\"\n",
                b8g.display()
            ),
        )?;
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let sshd_config = d.join("sshd_config");
        fs::write(
            &sshd_config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\nMaxStartups 100\n\
                 SetEnv B8G_STORE_DIR=/nix/store B8G_STATE_DIR=/nix/var/nix B8G_STORE_ROOT={d}/store B8G_CONF={d}/none.conf\n",
                d = d.display()
            ),
        )?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&sshd_config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(d.join("sshd.log"))?)
            .spawn()
            .context("start sshd")?;
        m.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("sshd of machine {i} did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        config.push_str(&format!(
            "Host b8g-bench-{i}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  \
             IdentityFile {key}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
             LogLevel ERROR\n",
            key = key.display()
        ));
        machines.push_str(&format!(
            "ssh://root@b8g-bench-{i}?remote-program={} x86_64-linux - {max_jobs} 1\n",
            wrapper.display()
        ));
    }
    fs::write(&m.ssh_config, config)?;
    fs::write(&m.machines_file, machines)?;
    Ok(m)
}

/// `nix-build` of `file` with the machines, nothing built locally.
pub(super) fn nix_build(dir: &Path, m: &Machines, file: &str, n: usize, salt: &str) -> Command {
    let mut c = Command::new("nix-build");
    c.current_dir(dir)
        .env(
            "NIX_REMOTE",
            format!("local?root={}", dir.join("nix-remote-client").display()),
        )
        .env("NIX_SSHOPTS", format!("-F {}", m.ssh_config.display()))
        .args([file, "--no-out-link", "-j0"])
        .args(["--option", "substituters", ""])
        .arg("--builders")
        .arg(format!("@{}", m.machines_file.display()))
        .args(["--arg", "n", &n.to_string(), "--argstr", "salt", salt]);
    c
}

/// `b8g-build` of `file` with the machines, nothing built locally.
pub(super) fn b8g_build(
    bin: &Path,
    dir: &Path,
    m: &Machines,
    file: &str,
    n: usize,
    salt: &str,
) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .args([
            "--store-dir",
            "/nix/store",
            "--state-dir",
            "/nix/var/nix",
            "--root",
        ])
        .arg(dir.join("b8g-remote-client"))
        .env("NIX_SSHOPTS", format!("-F {}", m.ssh_config.display()))
        .env("B8G_CONF", dir.join("no-b8g.conf"))
        .args(["-q", file, "--no-out-link", "-j0"])
        .arg("--builders")
        .arg(format!("@{}", m.machines_file.display()))
        .args(["--arg", "n", &n.to_string(), "--argstr", "salt", salt]);
    c
}
