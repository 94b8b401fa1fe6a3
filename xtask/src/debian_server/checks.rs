//! The first boot's checks of `cargo xtask debian-server`: the server used from the
//! host as its administrators and clients use it.

use super::{Ports, Ssh, ZONE};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Out;

pub(super) fn expect(what: &str, ok: bool, detail: &str) -> Result<()> {
    if ok {
        eprintln!("debian-server: ok: {what}");
        Ok(())
    } else {
        bail!("debian-server: {what}: FAILED\n{detail}")
    }
}

fn host(cmd: &mut Command) -> Result<Out> {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// The first boot's checks, from the host.
pub(super) fn first_boot_checks(ssh: &Ssh, ports: &Ports) -> Result<()> {
    let mounts = ssh.ok("cat /proc/mounts /proc/swaps /srv/hello")?;
    expect(
        "/srv from /etc/fstab (second disk) and /swapfile as swap",
        mounts.contains("/dev/vdb /srv ext4")
            && mounts.contains("/swapfile")
            && mounts.contains("hello from the second disk"),
        &mounts,
    )?;
    // udevd runs under b8g-init and its events reach PID 1: the second disk's device
    // unit is plugged (a start job of a device udev never announced would wait 90 s).
    let dev = ssh.run("timeout 20 systemctl start dev-vdb.device; systemctl is-active dev-vdb.device sys-subsystem-net-devices-eth0.device")?;
    expect(
        "udev's events plug dev-vdb.device and sys-subsystem-net-devices-eth0.device",
        dev.stdout == "active\nactive\n",
        &format!("{} {}{}", dev.code, dev.stdout, dev.stderr),
    )?;
    let root_opts = mounts
        .lines()
        .find(|l| l.starts_with("/dev/vda / "))
        .unwrap_or("");
    expect(
        "/ remounted with its fstab options (errors=remount-ro)",
        root_opts.contains("errors=remount-ro"),
        &mounts,
    )?;

    let pg = host(
        Command::new("psql")
            .env("PGCONNECT_TIMEOUT", "20")
            .args(["-h", "127.0.0.1", "-p", &ports.postgres.to_string()])
            .args(["-U", "postgres", "-tAc", "select 6 * 7"]),
    )?;
    expect(
        "psql from the host: select 6 * 7",
        pg.code == 0 && pg.stdout.trim() == "42",
        &format!("{}{}", pg.stdout, pg.stderr),
    )?;

    ssh.ok(
        "mariadb -e \"CREATE USER IF NOT EXISTS 'b8g'@'%' IDENTIFIED BY 'b8g'; GRANT ALL ON *.* TO 'b8g'@'%'\"",
    )?;
    let my = host(
        Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &ports.mariadb.to_string()])
            .args([
                "--connect-timeout=20",
                "-u",
                "b8g",
                "-pb8g",
                "-N",
                "-e",
                "select 6 * 7",
            ]),
    )?;
    expect(
        "mariadb from the host: select 6 * 7",
        my.code == 0 && my.stdout.trim() == "42",
        &format!("{}{}", my.stdout, my.stderr),
    )?;

    let redis = host(Command::new("redis-cli").args([
        "-h",
        "127.0.0.1",
        "-p",
        &ports.redis.to_string(),
        "PING",
    ]))?;
    expect(
        "redis-cli PING from the host",
        redis.stdout.trim() == "PONG",
        &format!("{}{}", redis.stdout, redis.stderr),
    )?;

    let page = host(
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .arg(format!("http://127.0.0.1:{}/", ports.http)),
    )?;
    expect(
        "nginx's page from the host",
        page.stdout.contains("Welcome to nginx"),
        &format!("{}{}", page.stdout, page.stderr),
    )?;

    // Bus activation: polkit.service is started by nothing but dbus-daemon asking PID 1
    // (its D-Bus service file names SystemdService=polkit.service; Type=dbus).
    let before = ssh.run("systemctl is-active polkit.service")?;
    let call = ssh.run(
        "dbus-send --system --print-reply --reply-timeout=120000 --dest=org.freedesktop.PolicyKit1 \
         /org/freedesktop/PolicyKit1/Authority org.freedesktop.DBus.Properties.Get \
         string:org.freedesktop.PolicyKit1.Authority string:BackendName",
    )?;
    let after = ssh.run("systemctl is-active polkit.service; journalctl -u polkit.service -n 5")?;
    expect(
        "a D-Bus call to polkit activates polkit.service through b8g-init (Type=dbus)",
        before.stdout.trim() == "inactive"
            && call.code == 0
            && call.stdout.contains("variant")
            && after.stdout.starts_with("active\n"),
        &format!(
            "before: {}\ncall: {} {}{}\nafter: {}",
            before.stdout, call.code, call.stdout, call.stderr, after.stdout
        ),
    )?;

    // Logging: a logger(1) line and sshd's own lines, through /dev/log.
    ssh.ok("logger -t b8gprobe -p user.warning hello-from-logger")?;
    let found = ssh.ok("sleep 1; journalctl -t b8gprobe -p warning; b8gctl log ssh.service")?;
    expect(
        "logger's line in journalctl -t, sshd's 'Accepted publickey' in b8gctl log",
        found.contains("hello-from-logger") && found.contains("Accepted publickey for root"),
        &found,
    )?;

    // A calendar timer in local time: two minutes ahead on the guest's own clock.
    let at = ssh.ok("date -d '+2 min' '+%H:%M'")?;
    let at = at.trim();
    let unit = format!(
        "[Unit]\nDescription=local-time probe\n[Timer]\nOnCalendar=*-*-* {at}:00\nAccuracySec=1s\n"
    );
    ssh.ok(&format!(
        "printf '%s' '{unit}' > /etc/systemd/system/b8g-probe.timer && \
         printf '[Service]\\nType=oneshot\\nExecStart=/bin/sh -c \"date > /run/b8g-probe-fired\"\\n' > /etc/systemd/system/b8g-probe.service && \
         systemctl daemon-reload && systemctl start b8g-probe.timer"
    ))?;
    let timers = ssh.ok("systemctl list-timers --all --no-pager")?;
    eprintln!("debian-server: {}", timers.trim());
    let t0 = Instant::now();
    let fired = loop {
        let o = ssh.run("cat /run/b8g-probe-fired")?;
        if o.code == 0 {
            break Some(o.stdout);
        }
        if t0.elapsed() > Duration::from_secs(240) {
            break None;
        }
        std::thread::sleep(Duration::from_secs(5));
    };
    expect(
        &format!("OnCalendar=*-*-* {at}:00 in {ZONE} fired"),
        fired
            .as_deref()
            .is_some_and(|f| f.contains(&format!("{at}:0"))),
        &format!("{fired:?}\n{timers}"),
    )?;

    // systemctl as Debian's administrators and maintainer scripts use it.
    let a = ssh.run("systemctl is-active nginx.service")?;
    expect(
        "systemctl is-active nginx: active, exit 0",
        a.code == 0 && a.stdout == "active\n",
        &a.stdout,
    )?;
    let a = ssh.run("systemctl is-active no-such.service")?;
    expect(
        "systemctl is-active of a unit that does not exist: inactive, exit 3",
        a.code == 3 && a.stdout == "inactive\n",
        &format!("{} {}", a.code, a.stdout),
    )?;
    let a = ssh.run("systemctl is-enabled redis-server.service")?;
    expect(
        "systemctl is-enabled redis-server: enabled",
        a.code == 0 && a.stdout == "enabled\n",
        &format!("{} {}{}", a.code, a.stdout, a.stderr),
    )?;
    let d = ssh.run("systemctl disable redis-server.service")?;
    let a = ssh.run("systemctl is-enabled redis-server.service")?;
    expect(
        "systemctl disable redis-server: links removed, is-enabled says disabled (exit 1)",
        d.code == 0
            && d.stderr.contains(
                "Removed \"/etc/systemd/system/multi-user.target.wants/redis-server.service\".",
            )
            && a.code == 1
            && a.stdout == "disabled\n",
        &format!("{}{}\n{} {}", d.stdout, d.stderr, a.code, a.stdout),
    )?;
    let e = ssh.run("systemctl enable redis-server.service")?;
    let a = ssh.run("systemctl is-enabled redis-server.service")?;
    expect(
        "systemctl enable redis-server: the link is back",
        e.code == 0
            && e.stderr.contains("Created symlink /etc/systemd/system/multi-user.target.wants/redis-server.service → ")
            && a.stdout == "enabled\n",
        &format!("{}{}\n{} {}", e.stdout, e.stderr, a.code, a.stdout),
    )?;
    let s = ssh.ok(
        "systemctl show -p ActiveState --value postgresql@15-main.service; \
         systemctl show -p MainPID --value redis-server.service; \
         systemctl show -p Id,LoadState,SubState nginx.service",
    )?;
    let l: Vec<&str> = s.lines().collect();
    expect(
        "systemctl show -p … [--value]",
        l.len() == 5
            && l[0] == "active"
            && l[1].parse::<u32>().is_ok_and(|p| p > 1)
            && l[2..] == ["Id=nginx.service", "LoadState=loaded", "SubState=running"],
        &s,
    )?;
    Ok(())
}
