//! Issue 16: Type=dbus services and bus activation with Debian's dbus-daemon, started
//! by b8g-init as Debian's dbus.service starts it (`--address=systemd:` from dbus.socket,
//! `--systemd-activation`). dbus-test-tool (dbus-tests) holds bus names.

use std::time::{Duration, Instant};

use crate::harness::*;

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=@ROOT@/run/dbus/unused</listen>
  <servicedir>@ROOT@/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#;

const ENV: &str =
    "Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=@ROOT@/run/dbus/system_bus_socket\n";

fn send(s: &System, args: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "DBUS_SYSTEM_BUS_ADDRESS=unix:path={}/run/dbus/system_bus_socket nsenter -t {} -U -m -n --preserve-credentials dbus-send --system --print-reply {args} 2>&1",
            s.path("").display(),
            s.init_pid()
        ))
        .output()
        .expect("dbus-send");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn type_dbus_is_ready_when_its_name_is_owned_and_the_bus_activates_units_through_pid_1() {
    let mut s = System::new(&[
        ("dbus.socket", "[Socket]\nListenStream=@ROOT@/run/dbus/system_bus_socket\n"),
        (
            "dbus.service",
            "[Unit]\nRequires=dbus.socket\n[Service]\nExecStart=/usr/bin/dbus-daemon --config-file=@ROOT@/bus.conf --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog\n",
        ),
        (
            "ready.service",
            &format!("[Unit]\nWants=dbus.service\nAfter=dbus.service\n[Service]\nType=dbus\nBusName=org.example.Ready\n{ENV}ExecStart=/bin/sh -c 'sleep 1; exec dbus-test-tool black-hole --system --name=org.example.Ready'\n"),
        ),
        (
            "after-ready.service",
            &format!("[Unit]\nWants=ready.service\nAfter=ready.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\n{ENV}ExecStart=/bin/sh -c 'dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.example.Ready'\n"),
        ),
        (
            "activated.service",
            &format!("[Service]\nBusName=org.example.Activated\n{ENV}ExecStart=dbus-test-tool black-hole --system --name=org.example.Activated\n"),
        ),
        (
            "never.service",
            &format!("[Service]\nType=dbus\nBusName=org.example.Never\nTimeoutStartSec=2\n{ENV}ExecStart=/bin/sleep 60\n"),
        ),
    ]);
    s.write("bus.conf", BUS_CONF);
    for (name, unit) in [
        ("org.example.Activated", "activated.service"),
        ("org.example.Missing", "no-such.service"),
        // What systemd installs, so that an activation asked for before PID 1 is on
        // the bus waits for it.
        (
            "org.freedesktop.systemd1",
            "dbus-org.freedesktop.systemd1.service",
        ),
    ] {
        s.write(
            &format!("services/{name}.service"),
            &format!(
                "[D-BUS Service]\nName={name}\nExec=/bin/false\nUser=root\nSystemdService={unit}\n"
            ),
        );
    }
    s.boot();
    s.wait_ready();
    // Ready only once the name is owned: the unit ordered after it sees the owner.
    let t = Instant::now();
    s.ctl_ok(&["start", "after-ready.service"]);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        s.active("ready.service"),
        "active",
        "{}",
        s.log("ready.service")
    );
    assert!(
        s.log("after-ready.service").contains("boolean true"),
        "{}",
        s.log("after-ready.service")
    );
    assert!(s
        .log("ready.service")
        .contains("bus name org.example.Ready owned by :1."));

    // Bus activation: the daemon asks PID 1 for activated.service (its Type=dbus by
    // BusName=), which starts and takes the name; the caller gets "started" (1).
    let r = send(
        &s,
        "--dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.StartServiceByName string:org.example.Activated uint32:0",
    );
    assert!(r.contains("uint32 1"), "{r}\n{}", s.console());
    assert_eq!(s.active("activated.service"), "active");

    // A unit that does not exist: the caller hears at once, not after the daemon's
    // 25 s activation timeout.
    let t = Instant::now();
    let r = send(
        &s,
        "--dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.StartServiceByName string:org.example.Missing uint32:0",
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(r.contains("Unit no-such.service not found."), "{r}");

    // Calls to systemd's API get an error at once; Ping is answered.
    let r = send(
        &s,
        "--dest=org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.ListUnits",
    );
    assert!(
        r.contains("UnknownMethod") && r.contains("b8g-init does not offer"),
        "{r}\n{}\n{}",
        s.console(),
        s.log("dbus.service")
    );
    let r = send(
        &s,
        "--dest=org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.DBus.Peer.Ping",
    );
    assert!(r.contains("method return"), "{r}");

    // A Type=dbus service that never takes its name fails at its start timeout.
    assert!(!s.ctl(&["start", "never.service"]).status.success());
    assert_eq!(s.active("never.service"), "failed");
    s.poweroff();
}
