//! `cargo xtask debian-server`: a stock Debian 12 server, made with mmdebstrap *without*
//! systemd, boots with b8g-init as `/sbin/init` under qemu (TCG) and is used from the
//! host as a server is (issue 16's acceptance). `cargo xtask test --full` runs it.
//!
//! The root holds openssh-server, nginx, postgresql, mariadb-server, redis-server, cron,
//! chrony and ifupdown with their Debian unit files unchanged; a second disk is mounted
//! at /srv from /etc/fstab (checked by fsck first) and /swapfile is swap. Only what an
//! administrator edits is changed: listen addresses, pg_hba, an authorized key, fstab,
//! the network interface, the time zone. From the host, through qemu's forwarded ports:
//! an ssh login by key, a psql query, a mariadb query, a redis PING and an nginx page;
//! `logger` and sshd lines are found in the log; a local-time OnCalendar timer fires;
//! systemctl's is-active/is-enabled/enable/disable/show answer as systemd's do; and
//! `systemctl poweroff` stops postgres cleanly: the second boot's postgres log shows a
//! clean shutdown, not crash recovery. Consoles go to `target/debian-server/`.

mod checks;

use self::checks::{expect, first_boot_checks};
use crate::debian_image::{debian_root, kernel, make_ext4, stage1, write_mode};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's packages besides minbase.
pub const PACKAGES: &str = "openssh-server,nginx,postgresql,mariadb-server,redis-server,cron,\
chrony,ifupdown,isc-dhcp-client,e2fsprogs,procps,iproute2,dbus,polkitd,udev";

/// What mmdebstrap includes: [`PACKAGES`] and either systemd as the init (to compare
/// with) or, without it, the standalone tmpfiles and sysusers tools that stand in for
/// systemd where packages need them (the two conflict with systemd).
pub fn include(with_systemd: bool) -> String {
    if with_systemd {
        format!("{PACKAGES},systemd-sysv")
    } else {
        // polkitd needs a logind: elogind's, as on Debian systems without systemd.
        format!("{PACKAGES},systemd-standalone-tmpfiles,systemd-standalone-sysusers,libpam-elogind")
    }
}

/// Stage 1 loads these (and what they need): the disks, ext4 and the network card.
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "crc32c_generic",
    "ext4",
];

/// What must be active once the server is up.
pub const UNITS: &[&str] = &[
    "ssh.service",
    "networking.service",
    "ifup@eth0.service",
    "nginx.service",
    "postgresql@15-main.service",
    "mariadb.service",
    "redis-server.service",
    "cron.service",
    "chrony.service",
    "srv.mount",
    "swapfile.swap",
    "dbus.socket",
    "systemd-udevd.service",
];

/// The guest's time zone: far from UTC and not by whole hours, so a timer read in UTC
/// would not fire in the test's window.
const ZONE: &str = "Asia/Kathmandu";

const FSTAB: &str = "\
# /etc/fstab: static file system information.
/dev/vda   /      ext4  errors=remount-ro  0  1
/dev/vdb   /srv   ext4  defaults,noatime   0  2
/swapfile  none   swap  sw                 0  0
";

const INTERFACES: &str = "\
# ifupdown: the loopback, and qemu's user network by DHCP once udev announces it
# (Debian's installer writes allow-hotplug: udev's rule asks systemctl for
# ifup@eth0.service, named by systemd-escape, bound to the interface's device unit).
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
";

/// Forwarded host ports, one per guest service.
pub(super) struct Ports {
    ssh: u16,
    postgres: u16,
    mariadb: u16,
    redis: u16,
    http: u16,
}

impl Ports {
    fn free() -> Result<Ports> {
        // Bound together so the kernel hands out five different ports.
        let l: Vec<std::net::TcpListener> = (0..5)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<_>>()?;
        let p: Vec<u16> = l
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<_>>()?;
        Ok(Ports {
            ssh: p[0],
            postgres: p[1],
            mariadb: p[2],
            redis: p[3],
            http: p[4],
        })
    }
}

struct Vm {
    child: Child,
    console: PathBuf,
}

impl Vm {
    fn boot(work: &Path, ports: &Ports, name: &str) -> Result<Vm> {
        let (kernel, _) = kernel()?;
        let console = work.join(format!("console-{name}.log"));
        let _ = std::fs::remove_file(&console);
        let fwd = [
            (ports.ssh, 22),
            (ports.postgres, 5432),
            (ports.mariadb, 3306),
            (ports.redis, 6379),
            (ports.http, 80),
        ]
        .iter()
        .map(|(h, g)| format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}"))
        .collect::<String>();
        eprintln!(
            "debian-server: booting ({name}); console in {}",
            console.display()
        );
        // qemu itself is the child (no timeout(1) between), so dropping the Vm kills
        // it; every wait here is bounded.
        let child = Command::new("qemu-system-x86_64")
            .args(["-M", "pc", "-m", "2048", "-smp", "2"])
            .args(["-display", "none", "-no-reboot", "-kernel"])
            .arg(&kernel)
            .arg("-initrd")
            .arg(work.join("stage1.cpio"))
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio",
                work.join("root.ext4").display()
            ))
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio",
                work.join("srv.ext4").display()
            ))
            .arg("-netdev")
            .arg(format!("user,id=n0{fwd}"))
            .args(["-device", "virtio-net-pci,netdev=n0"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-append")
            // net.ifnames=0: udev keeps the kernel's eth0, which the interfaces file names.
            .arg("console=ttyS0 panic=-1 loglevel=4 no_timer_check net.ifnames=0 stage1.init=/sbin/init")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start qemu-system-x86_64")?;
        Ok(Vm { child, console })
    }

    fn console_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.console).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits for qemu to exit by itself (the guest powered off).
    fn wait_exit(&mut self, limit: Duration) -> Result<()> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(st) = self.child.try_wait()? {
                if !st.success() {
                    bail!(
                        "qemu ended with {st}; console tail:\n{}",
                        self.console_tail(60)
                    );
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        bail!(
            "the guest did not power off within {} s; console tail:\n{}",
            limit.as_secs(),
            self.console_tail(60)
        )
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An ssh client logged in by key as root.
pub(super) struct Ssh {
    key: PathBuf,
    port: u16,
}

pub(super) struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ssh {
    pub(super) fn run(&self, cmd: &str) -> Result<Out> {
        let o = Command::new("ssh")
            .arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
                "-o",
                "LogLevel=ERROR",
                "root@127.0.0.1",
                cmd,
            ])
            .stdin(Stdio::null())
            .output()
            .context("cannot run ssh")?;
        Ok(Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        })
    }

    /// Runs `cmd`, which must succeed; its standard output.
    pub(super) fn ok(&self, cmd: &str) -> Result<String> {
        let o = self.run(cmd)?;
        if o.code != 0 {
            bail!(
                "over ssh, {cmd:?} exited with {}:\n{}{}",
                o.code,
                o.stdout,
                o.stderr
            );
        }
        Ok(o.stdout)
    }

    fn wait_login(&self, vm: &mut Vm, limit: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        loop {
            if let Ok(o) = self.run("readlink /proc/1/exe") {
                if o.code == 0 {
                    if o.stdout.trim() != "/usr/local/sbin/b8g-init" {
                        bail!("PID 1 is {:?}, not b8g-init", o.stdout.trim());
                    }
                    return Ok(t0.elapsed());
                }
            }
            if let Some(st) = vm.child.try_wait()? {
                bail!(
                    "qemu ended ({st}) before ssh answered; console tail:\n{}",
                    vm.console_tail(80)
                );
            }
            if t0.elapsed() > limit {
                bail!(
                    "no ssh login within {} s; console tail:\n{}",
                    limit.as_secs(),
                    vm.console_tail(80)
                );
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }

    /// Waits until every unit of [`UNITS`] is active; on a timeout, their status and logs.
    fn wait_active(&self, limit: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        let list = UNITS.join(" ");
        loop {
            // is-active exits 0 when any one is active: each line must say so.
            let o = self.run(&format!("systemctl is-active {list}"))?;
            if o.stdout.lines().filter(|l| *l == "active").count() == UNITS.len() {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > limit {
                let states: Vec<String> = UNITS
                    .iter()
                    .zip(o.stdout.lines())
                    .map(|(u, s)| format!("{u}: {s}"))
                    .collect();
                let detail = self
                    .run(&format!(
                        "for u in {list}; do systemctl status --no-pager $u; journalctl -n 30 -u $u; done 2>&1 | tail -n 400"
                    ))
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                bail!(
                    "not all units active after {} s:\n{}\n{detail}",
                    limit.as_secs(),
                    states.join("\n")
                );
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("usage: cargo xtask debian-server (unknown {a})");
    }
    let bin = match std::env::var_os("B8G_INIT_BIN") {
        Some(d) => PathBuf::from(d),
        None => crate::build_static_init()?,
    };
    scenario(&bin)
}

/// Makes the server's root (mmdebstrap of `include`, once), configures it as
/// [`configure`] does, lets `extra` add files, and writes `root.ext4`, `srv.ext4` and
/// `stage1.cpio` into `work`. The ssh key that logs in as root is returned.
pub fn prepare(
    work: &Path,
    bin: &Path,
    include: &str,
    as_init: bool,
    extra: &dyn Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(work)?;
    let rootfs = work.join("rootfs");
    debian_root(&rootfs, include)?;
    let has_systemd =
        rootfs.join("lib/systemd/systemd").exists() || rootfs.join("bin/systemctl").exists();
    if as_init && has_systemd {
        bail!("systemd came into the root with the server's packages: the test needs a root without it");
    }
    let key = work.join("id_ed25519");
    if !key.exists() {
        crate::run(
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "b8g-debian-server",
                    "-f",
                ])
                .arg(&key),
        )?;
    }
    let pubkey = std::fs::read_to_string(key.with_extension("pub"))?;
    configure(&rootfs, bin, &pubkey, as_init)?;
    extra(&rootfs)?;
    let (_, version) = kernel()?;
    make_ext4(
        Some(&rootfs),
        &work.join("root.ext4"),
        "server-root",
        "6b8a0c1e-5b1d-4c3a-9f00-000000000016",
        "4G",
    )?;
    let srv_content = work.join("srv-content");
    let _ = std::fs::remove_dir_all(&srv_content);
    write_mode(
        &srv_content.join("hello"),
        b"hello from the second disk\n",
        0o644,
    )?;
    make_ext4(
        Some(&srv_content),
        &work.join("srv.ext4"),
        "srv",
        "6b8a0c1e-5b1d-4c3a-9f00-000000000017",
        "256M",
    )?;
    std::fs::write(work.join("stage1.cpio"), stage1(&version, MODULES)?)?;
    Ok(key)
}

/// The scenario with b8g-init and b8gctl from `bin`/bin.
pub fn scenario(bin: &Path) -> Result<()> {
    crate::ensure_packages(crate::debian_image::HOST_PACKAGES)?;
    // The clients the server is used with from the host.
    crate::ensure_packages(&[
        "util-linux",
        "openssh-client",
        "postgresql-client",
        "mariadb-client",
        "redis-tools",
        "curl",
    ])?;
    crate::ensure_apt_lists()?;
    let work = crate::root().join("target/debian-server");
    let key = prepare(&work, bin, &include(false), true, &|_| Ok(()))?;
    let ports = Ports::free()?;
    let ssh = Ssh {
        key: key.clone(),
        port: ports.ssh,
    };

    let t0 = Instant::now();
    let mut vm = Vm::boot(&work, &ports, "first-boot")?;
    let login = ssh.wait_login(&mut vm, Duration::from_secs(900))?;
    eprintln!(
        "debian-server: ssh login by key after {:.0} s",
        login.as_secs_f64()
    );
    let up = ssh.wait_active(Duration::from_secs(600))?;
    eprintln!(
        "debian-server: every unit active {:.0} s later ({:.0} s after qemu started)",
        up.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    first_boot_checks(&ssh, &ports)?;
    // `systemctl poweroff` returns before the connection drops, or the drop ends ssh.
    let _ = ssh.run("systemctl poweroff");
    vm.wait_exit(Duration::from_secs(600))?;
    eprintln!("debian-server: ok: systemctl poweroff powered the machine off");
    let console = std::fs::read_to_string(&vm.console).unwrap_or_default();
    drop(vm);

    let mut vm = Vm::boot(&work, &ports, "second-boot")?;
    ssh.wait_login(&mut vm, Duration::from_secs(900))?;
    ssh.wait_active(Duration::from_secs(600))?;
    let log = ssh.ok("cat /var/log/postgresql/postgresql-15-main.log")?;
    let starts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("database system was"))
        .collect();
    let last = starts.last().copied().unwrap_or("");
    expect(
        "second boot: postgres found a clean shutdown, no crash recovery",
        last.contains("database system was shut down at")
            && !log.contains("automatic recovery in progress")
            && log.contains("database system is shut down"),
        &format!("{log}\nfirst boot's console tail:\n{}", tail(&console, 60)),
    )?;
    let _ = ssh.run("systemctl poweroff");
    vm.wait_exit(Duration::from_secs(600))?;
    eprintln!(
        "debian-server: passed in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What an administrator would set up on the root before the first boot. With
/// `as_init`, `/sbin/init` is b8g-init and b8gctl answers as systemctl and journalctl;
/// without, they are only installed in /usr/local/sbin (the root keeps its systemd).
fn configure(root: &Path, bin: &Path, pubkey: &str, as_init: bool) -> Result<()> {
    for b in ["b8g-init", "b8gctl"] {
        let data = std::fs::read(bin.join("bin").join(b))
            .with_context(|| format!("reading {}/bin/{b}", bin.display()))?;
        write_mode(&root.join("usr/local/sbin").join(b), &data, 0o755)?;
    }
    // b8g-init is the init; b8gctl answers as systemctl and journalctl.
    let links: &[(&str, &str)] = if as_init {
        &[
            ("sbin/init", "/usr/local/sbin/b8g-init"),
            ("usr/bin/systemctl", "/usr/local/sbin/b8gctl"),
            ("usr/bin/journalctl", "/usr/local/sbin/b8gctl"),
            ("usr/bin/systemd-escape", "/usr/local/sbin/b8gctl"),
        ]
    } else {
        &[]
    };
    if as_init {
        // What installing b8g-init adds beside the binaries: the bus policy that lets
        // PID 1 own systemd's name, so dbus-daemon's systemd activation reaches it, and
        // the udev rules that tag the devices PID 1 makes units of.
        let data = crate::root().join("init/data");
        for (file, to) in [
            ("dbus/org.freedesktop.systemd1.conf", "etc/dbus-1/system.d"),
            (
                "dbus/org.freedesktop.systemd1.service",
                "usr/share/dbus-1/system-services",
            ),
            ("udev/99-b8g-init.rules", "etc/udev/rules.d"),
        ] {
            let text = std::fs::read(data.join(file))?;
            let name = Path::new(file).file_name().context("a file name")?;
            write_mode(&root.join(to).join(name), &text, 0o644)?;
        }
    }
    for (link, to) in links {
        let at = root.join(link);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(to, &at)?;
    }
    write_mode(&root.join("etc/hostname"), b"b8g-debian\n", 0o644)?;
    write_mode(
        &root.join("etc/hosts"),
        b"127.0.0.1 localhost\n127.0.1.1 b8g-debian\n::1 localhost ip6-localhost ip6-loopback\n",
        0o644,
    )?;
    write_mode(&root.join("etc/fstab"), FSTAB.as_bytes(), 0o644)?;
    write_mode(
        &root.join("etc/network/interfaces"),
        INTERFACES.as_bytes(),
        0o644,
    )?;
    std::fs::create_dir_all(root.join("srv"))?;
    // A swap file without holes (mkfs.ext4 -d leaves zero blocks out, and the kernel
    // refuses a swap file with holes), then mkswap.
    let swap = root.join("swapfile");
    write_mode(&swap, &vec![0x5a; 64 << 20], 0o600)?;
    crate::run(Command::new("mkswap").arg("-q").arg(&swap))?;
    let ssh_dir = root.join("root/.ssh");
    write_mode(&ssh_dir.join("authorized_keys"), pubkey.as_bytes(), 0o600)?;
    std::fs::set_permissions(
        &ssh_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let zone = root.join("etc/localtime");
    let _ = std::fs::remove_file(&zone);
    std::os::unix::fs::symlink(format!("/usr/share/zoneinfo/{ZONE}"), &zone)?;
    write_mode(
        &root.join("etc/timezone"),
        format!("{ZONE}\n").as_bytes(),
        0o644,
    )?;
    // postgres and mariadb listen on every address; the host (10.0.2.2 under qemu's
    // user network) may connect to postgres without a password.
    write_mode(
        &root.join("etc/postgresql/15/main/conf.d/b8g.conf"),
        b"listen_addresses = '*'\n",
        0o644,
    )?;
    let hba = root.join("etc/postgresql/15/main/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).context("no postgres cluster: pg_hba.conf")?;
    let line = "host all all 10.0.2.2/32 trust";
    if !text.contains(line) {
        std::fs::write(&hba, format!("{line}\n{text}"))?;
    }
    write_mode(
        &root.join("etc/mysql/mariadb.conf.d/99-b8g.cnf"),
        b"[mysqld]\nbind-address = 0.0.0.0\n",
        0o644,
    )?;
    let redis = root.join("etc/redis/redis.conf");
    let text = std::fs::read_to_string(&redis)?;
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("bind ") {
                "bind 0.0.0.0".to_string()
            } else if l.starts_with("protected-mode ") {
                "protected-mode no".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&redis, text)?;
    Ok(())
}
