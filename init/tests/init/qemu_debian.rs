//! Acceptance in qemu (TCG) with real Debian services: the host's stock kernel boots an
//! initramfs that is the whole root (`rdinit=/sbin/b8g-init`, no `b8g.system=`), made of
//! busybox, the static b8g-init/b8gctl and Debian packages fetched with `apt-get download`
//! and unpacked with `dpkg-deb -x`: nginx and cron with their shared libraries, and dpkg's
//! start-stop-daemon (nginx.service's ExecStop). Their unit files are used byte for byte
//! as the packages ship them in /lib/systemd/system; the "build" does what the packages'
//! maintainer scripts would (enable links from `[Install] WantedBy=` like `systemctl
//! enable`, www-data in /etc/passwd, /var/log/nginx, the default site link, cron's spool).
//!
//! It checks: default.target is reached (the ready marker), nginx answers HTTP on port
//! 80 inside the guest (busybox wget from a oneshot ordered after both services) and
//! still does after `b8gctl reload nginx.service`, cron runs, and `b8gctl poweroff`
//! stops everything and powers off: qemu exits by itself, with no unmount failure.
//! Needs qemu-system-x86, linux-image-amd64, busybox-static, apt package lists and
//! network access on the first run (debs are cached in the target directory).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::qemu::{boot, find_kernel, static_init_and_ctl, Cpio};

/// nginx and cron, and the packages of the libraries they link (`ldd` on Debian 12):
/// nginx → libcrypt1 libpcre2-8-0 libssl3 zlib1g; cron → libpam0g libselinux1, which
/// pull libaudit1 libcap-ng0; cron-daemon-common has /etc/crontab.
const DEBS: &[&str] = &[
    "nginx",
    "nginx-common",
    "cron",
    "cron-daemon-common",
    "libc6",
    "libcrypt1",
    "libpcre2-8-0",
    "libssl3",
    "zlib1g",
    "libpam0g",
    "libselinux1",
    "libaudit1",
    "libcap-ng0",
    // Debian's systemd-tmpfiles and systemd-sysusers without systemd.
    "systemd-standalone-tmpfiles",
    "systemd-standalone-sysusers",
    "libacl1",
    "libcap2",
];

/// The services under test: unit files from the packages, unchanged.
const SERVICES: &[&str] = &["nginx.service", "cron.service"];

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cached_deb(dir: &Path, pkg: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.find_map(|e| {
        let p = e.ok()?.path();
        let n = p.file_name()?.to_str()?;
        (n.starts_with(&format!("{pkg}_")) && n.ends_with(".deb")).then_some(p)
    })
}

/// The .deb of each package, downloaded once into `dir`.
pub fn debs(dir: &Path, pkgs: &[&str]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir deb cache");
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| cached_deb(dir, p).is_none())
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get")
            .current_dir(dir)
            .arg("download")
            .args(&missing));
    }
    pkgs.iter()
        .map(|p| cached_deb(dir, p).unwrap_or_else(|| panic!("apt-get download {p} left no .deb")))
        .collect()
}

/// `[Install] WantedBy=` targets of a unit file (what `systemctl enable` links from).
pub fn wanted_by(unit: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for l in unit.lines().map(str::trim) {
        if l.starts_with('[') {
            section = l;
        } else if section == "[Install]" {
            if let Some(v) = l.strip_prefix("WantedBy=") {
                out.extend(v.split_whitespace().map(str::to_string));
            }
        }
    }
    out
}

fn write(root: &Path, rel: &str, mode: u32, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, text).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

const PROBE_UNIT: &str = "[Unit]
Description=acceptance probe: are nginx and cron up
After=nginx.service cron.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /probe.sh
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

const PROBE: &str = "#!/bin/sh
if wget -q -O - http://127.0.0.1/ | grep -q 'Welcome to nginx'; then echo 'PROBE nginx answers'; fi
if pidof cron >/dev/null; then echo 'PROBE cron running'; fi
# Debian's standalone systemd-tmpfiles and systemd-sysusers ran in systemd's units.
[ \"$(stat -c %a /run/probe-tmpfiles)\" = 750 ] && echo 'PROBE tmpfiles.d applied'
grep -q '^probeuser:' /etc/passwd && echo 'PROBE sysusers.d applied'
# /dev/log: busybox's logger, and cron's own syslog(3) lines, in the units' logs.
# (logger's line is looked up by its tag: its sender, reaped by this shell at once, can
# be gone before PID 1 reads the datagram, and is then in no unit, as with journald.)
logger -t probe hello-syslog
i=0
while [ $i -lt 100 ]; do
  if journalctl -t probe -o cat | grep -q hello-syslog; then echo 'PROBE syslog kept'; break; fi
  sleep 0.1; i=$((i+1))
done
[ $i -lt 100 ] || journalctl -t probe
if journalctl -u cron -o cat | grep -q '(CRON) INFO'; then echo 'PROBE cron logs to syslog'; fi
if journalctl -k -o cat | grep -q '^Linux version'; then echo 'PROBE kernel log kept'; fi
";

/// The sandbox on a real kernel as PID 1 (devtmpfs, real root): what it may and may
/// not see and write.
const SANDBOX_UNIT: &str = "[Unit]
Description=acceptance probe: a sandboxed service
After=probe.service

[Service]
Type=oneshot
RemainAfterExit=yes
ProtectSystem=strict
ProtectHome=yes
PrivateDevices=yes
PrivateTmp=yes
ProtectKernelTunables=yes
StateDirectory=sandboxed
StandardOutput=journal+console
ExecStart=/bin/sh /sandbox.sh

[Install]
WantedBy=multi-user.target
";

const SANDBOX: &str = "#!/bin/sh
(: > /etc/sandbox-probe) 2>/dev/null || echo 'PROBE sandbox: /etc read-only'
: > /var/lib/sandboxed/f && echo 'PROBE sandbox: state directory writable'
: > /tmp/f && [ ! -e /tmp/host-marker ] && echo 'PROBE sandbox: private /tmp'
[ -z \"$(ls -A /root)\" ] && echo 'PROBE sandbox: /root hidden'
[ -c /dev/null ] && [ ! -e /dev/vda ] && [ ! -e /dev/kmsg ] && echo 'PROBE sandbox: pseudo devices only'
(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null || echo 'PROBE sandbox: /proc/sys read-only'
";

/// cgroup v2 resource control on the real kernel: the unit's cgroup under its slice,
/// the limits written, and the task limit holding.
const LIMITS_UNIT: &str = "[Unit]
Description=acceptance probe: resource control
After=probe.service

[Service]
Type=oneshot
RemainAfterExit=yes
Slice=probe-limits.slice
MemoryMax=64M
TasksMax=8
CPUQuota=50%
CPUWeight=200
IOWeight=300
StandardOutput=journal+console
ExecStart=/bin/sh /limits.sh

[Install]
WantedBy=multi-user.target
";

const LIMITS: &str = "#!/bin/sh
cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
echo \"PROBE cgroup $cg\"
echo \"PROBE limits $(cat $cg/memory.max) $(cat $cg/pids.max) $(cat $cg/cpu.max) $(cat $cg/cpu.weight)\"
echo \"PROBE slice $(cat /sys/fs/cgroup/b8g/probe.slice/memory.max) $(cat /sys/fs/cgroup/b8g/probe.slice/pids.max) $(b8gctl is-active probe.slice probe-limits.slice | tr '\\n' ' ')\"
# A subshell starts sleepers until fork fails (it then dies); the rest counts and
# ends them with shell builtins alone, as no process can be added.
(i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null
n=0
while read p; do n=$((n+1)); done < $cg/cgroup.procs
echo \"PROBE tasks $n\"
while read p; do [ \"$p\" = \"$$\" ] || kill $p; done < $cg/cgroup.procs
";

/// Waits for the boot to settle, reloads nginx, then powers off through b8gctl.
const OFF_UNIT: &str = "[Unit]
Description=acceptance: reload nginx, then power off
After=probe.service

[Service]
ExecStart=/bin/sh /off.sh
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

const OFF: &str = "#!/bin/sh
i=0
while [ $i -lt 600 ]; do
  s=$(b8gctl is-system-running)
  case $s in running|degraded) break;; esac
  sleep 0.1; i=$((i+1))
done
echo \"PROBE state $s\"
echo \"PROBE pid1 $(grep VmRSS /proc/1/status)\"
b8gctl list-units
old=$(cat /run/nginx.pid)
if b8gctl reload nginx.service; then echo 'PROBE reload ok'; fi
sleep 1
if wget -q -O - http://127.0.0.1/ | grep -q 'Welcome to nginx' && [ \"$(cat /run/nginx.pid)\" = \"$old\" ]; then
  echo 'PROBE nginx answers after reload'
fi
b8gctl status nginx.service
b8gctl status cron.service
b8gctl poweroff
";

#[test]
fn qemu_debian_nginx_cron_upstream_units() {
    let kernel = find_kernel();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static is required");
    assert!(
        Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_ok(),
        "qemu-system-x86 is required"
    );
    let (init, ctl) = static_init_and_ctl();
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("debs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir root");
    for deb in debs(&cache, DEBS) {
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    }
    // Only start-stop-daemon from dpkg (the rest of dpkg would need more libraries).
    let dpkg = tmp.path().join("dpkg");
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&debs(&cache, &["dpkg"])[0])
        .arg(&dpkg));
    std::fs::create_dir_all(root.join("sbin")).expect("mkdir sbin");
    std::fs::copy(
        dpkg.join("sbin/start-stop-daemon"),
        root.join("sbin/start-stop-daemon"),
    )
    .expect("copy start-stop-daemon");
    // Documentation, locales and charset modules are not needed to boot: keep the
    // initramfs small (the kernel unpacks it at TCG speed). nginx's default page stays.
    let share = root.join("usr/share");
    for e in std::fs::read_dir(&share).expect("usr/share") {
        let p = e.expect("entry").path();
        if p.file_name().is_some_and(|n| n != "nginx") {
            std::fs::remove_dir_all(&p).expect("prune usr/share");
        }
    }
    let _ = std::fs::remove_dir_all(root.join("usr/lib/x86_64-linux-gnu/gconv"));

    // What the maintainer scripts would do (nginx-common, cron postinst).
    write(
        &root,
        "etc/passwd",
        0o644,
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n",
    );
    write(
        &root,
        "etc/group",
        0o644,
        "root:x:0:\nwww-data:x:33:\ncrontab:x:101:\n",
    );
    write(&root, "etc/hostname", 0o644, "debian-b8g\n");
    for d in [
        "var/log/nginx",
        "var/spool/cron/crontabs",
        "var/www/html",
        "run",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    // base-files: /var/run is /run.
    std::os::unix::fs::symlink("/run", root.join("var/run")).expect("var/run link");
    std::fs::copy(
        root.join("usr/share/nginx/html/index.html"),
        root.join("var/www/html/index.nginx-debian.html"),
    )
    .expect("default page");
    std::os::unix::fs::symlink(
        "/etc/nginx/sites-available/default",
        root.join("etc/nginx/sites-enabled/default"),
    )
    .expect("site link");

    // busybox, b8g-init, b8gctl.
    std::fs::create_dir_all(root.join("bin")).expect("mkdir bin");
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for t in [
        "sh", "sleep", "echo", "cat", "ls", "mount", "true", "wget", "grep", "pidof", "ps",
        "logger", "sed", "wc", "kill", "stat", "tr",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(t)).expect("applet link");
    }
    std::fs::copy(&init, root.join("sbin/b8g-init")).expect("copy b8g-init");
    std::fs::copy(&ctl, root.join("bin/b8gctl")).expect("copy b8gctl");
    std::os::unix::fs::symlink("b8gctl", root.join("bin/journalctl")).expect("journalctl link");

    // The units: upstream files in /lib/systemd/system unchanged (checked against the
    // packages), enabled by links as `systemctl enable` makes them; the probes are ours.
    let lib_units = root.join("lib/systemd/system");
    let etc_units = root.join("etc/systemd/system");
    write(&root, "etc/systemd/system/probe.service", 0o644, PROBE_UNIT);
    write(&root, "etc/systemd/system/off.service", 0o644, OFF_UNIT);
    write(&root, "probe.sh", 0o755, PROBE);
    write(&root, "off.sh", 0o755, OFF);
    write(
        &root,
        "etc/systemd/system/sandboxed.service",
        0o644,
        SANDBOX_UNIT,
    );
    write(&root, "sandbox.sh", 0o755, SANDBOX);
    write(
        &root,
        "etc/systemd/system/limited.service",
        0o644,
        LIMITS_UNIT,
    );
    write(&root, "limits.sh", 0o755, LIMITS);
    write(
        &root,
        "etc/systemd/system/probe.slice",
        0o644,
        "[Unit]\nDescription=acceptance probe slice\n[Slice]\nMemoryMax=256M\nTasksMax=64\n",
    );
    write(
        &root,
        "etc/tmpfiles.d/probe.conf",
        0o644,
        "d /run/probe-tmpfiles 0750 root root -\n",
    );
    write(
        &root,
        "usr/lib/sysusers.d/probe.conf",
        0o644,
        "u probeuser - \"acceptance probe\" /nonexistent\n",
    );
    write(
        &root,
        "root/.profile",
        0o644,
        "# hidden from ProtectHome=yes services\n",
    );
    write(
        &root,
        "tmp/host-marker",
        0o644,
        "not for PrivateTmp= services\n",
    );
    let mut enable: Vec<(String, PathBuf)> = SERVICES
        .iter()
        .map(|s| (s.to_string(), lib_units.join(s)))
        .collect();
    enable.push(("probe.service".into(), etc_units.join("probe.service")));
    enable.push(("off.service".into(), etc_units.join("off.service")));
    enable.push((
        "sandboxed.service".into(),
        etc_units.join("sandboxed.service"),
    ));
    enable.push(("limited.service".into(), etc_units.join("limited.service")));
    for (name, path) in &enable {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let targets = wanted_by(&text);
        assert!(!targets.is_empty(), "{name} has no WantedBy=");
        for t in targets {
            let wants = etc_units.join(format!("{t}.wants"));
            std::fs::create_dir_all(&wants).expect("mkdir .wants");
            let target = Path::new("/").join(path.strip_prefix(&root).expect("in root"));
            std::os::unix::fs::symlink(target, wants.join(name)).expect("enable link");
        }
    }
    let nginx_unit = std::fs::read_to_string(lib_units.join("nginx.service")).expect("unit");
    assert!(
        nginx_unit.contains("Type=forking") && nginx_unit.contains("PIDFile=/run/nginx.pid"),
        "not Debian's nginx.service:\n{nginx_unit}"
    );

    let mut c = Cpio::new();
    c.tree(&root, "");
    c.entry("dev/console", 0o020600, &[], (5, 1));
    let initrd = tmp.path().join("initrd.cpio");
    std::fs::write(&initrd, c.finish()).expect("write initrd");

    let (out, console) = boot(&kernel, &initrd, 768, "rdinit=/sbin/b8g-init");
    eprintln!("{console}");
    assert!(
        out.status.success(),
        "qemu did not power off by itself ({:?})",
        out.status
    );
    for want in [
        "b8g: system ready in",
        "PROBE nginx answers",
        "PROBE cron running",
        "PROBE syslog kept",
        "PROBE kernel log kept",
        "PROBE tmpfiles.d applied",
        "PROBE sysusers.d applied",
        "PROBE cron logs to syslog",
        "PROBE sandbox: /etc read-only",
        "PROBE sandbox: state directory writable",
        "PROBE sandbox: private /tmp",
        "PROBE sandbox: /root hidden",
        "PROBE sandbox: pseudo devices only",
        "PROBE sandbox: /proc/sys read-only",
        "PROBE cgroup /sys/fs/cgroup/b8g/probe.slice/probe-limits.slice/limited.service",
        "PROBE limits 67108864 8 50000 100000 200",
        "PROBE slice 268435456 64 active active",
        "PROBE state running",
        "PROBE reload ok",
        "PROBE nginx answers after reload",
        "shutting down (Poweroff)",
        "reached final stage",
        "reboot: Power down",
    ] {
        assert!(console.contains(want), "missing {want:?} on the console");
    }
    // The task limit held: the shell and at most 7 more processes.
    let tasks: u32 = console
        .lines()
        .find_map(|l| l.split("PROBE tasks ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PROBE tasks line:\n{console}"));
    assert!(
        (2..=8).contains(&tasks),
        "{tasks} processes in an 8-task cgroup"
    );
    for bad in ["could not unmount", "failed", "SIGKILL"] {
        assert!(
            !console.contains(bad),
            "{bad:?} on the console: the shutdown was not clean"
        );
    }
}
