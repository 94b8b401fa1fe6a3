//! PID 1 trusts no service: sd_notify messages count only for the unit their sender
//! belongs to by kernel credentials, under that unit's `NotifyAccess=`, and `MAINPID=`
//! from an unprivileged sender must name one of its own unit's processes.
//!
//! These tests boot b8g-init as PID 1 in a user namespace that maps uid 65534, so the
//! attacker really is an unprivileged `User=nobody` service talking to the real socket.

use crate::harness::System;

/// Writes an executable script under the temporary root.
fn script(s: &System, path: &str, body: &str) {
    s.write(path, body);
    std::fs::set_permissions(
        s.path(path),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod script");
}

/// A world-writable directory for unprivileged services to leave marks in.
fn drop_dir(s: &System, path: &str) {
    std::fs::create_dir_all(s.path(path)).expect("mkdir");
    std::fs::set_permissions(
        s.path(path),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod drop dir");
}

fn read_trim(s: &System, path: &str) -> String {
    std::fs::read_to_string(s.path(path))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The attacker runs as nobody and, with the victims' `B8G_INVOCATION`,
/// `INVOCATION_ID`, `B8G_UNIT` and `NOTIFY_SOCKET` in its environment, sends
/// `READY=1` for a Type=notify unit that never gets ready, `WATCHDOG=1` for a unit
/// whose watchdog must fire, and `MAINPID=` naming another unit's process, the victim's
/// process and PID 1. A root service of another unit sends the same forged `READY=1`.
const ATTACK: &str = r#"#!/bin/sh
P=@ROOT@/pub
while [ ! -s $P/victim.inv ] || [ ! -s $P/victim.pid ] || [ ! -s $P/wd.inv ] || [ ! -s $P/bystander.pid ]; do
  sleep 0.05
done
export NOTIFY_SOCKET=@ROOT@/run/b8g/notify
as_victim() {
  B8G_INVOCATION=$(cat $P/victim.inv) INVOCATION_ID=$(cat $P/victim.inv) B8G_UNIT=victim.service "$@"
}
as_victim @CTL@ notify --barrier READY=1 STATUS=forged
as_victim @CTL@ notify --barrier MAINPID=$(cat $P/victim.pid)
as_victim @CTL@ notify --barrier MAINPID=$(cat $P/bystander.pid)
as_victim @CTL@ notify --barrier MAINPID=1
# An orphan in a session of its own (no unit's process tree, group or session holds
# it) forges READY=1 and WATCHDOG=1 with the victims' environment.
( setsid /bin/sh @ROOT@/bin/orphan.sh @ROOT@/drop/orphan-$1 & )
i=0
while [ $i -lt 15 ]; do
  B8G_INVOCATION=$(cat $P/wd.inv) B8G_UNIT=wdvictim.service @CTL@ notify --barrier WATCHDOG=1
  sleep 0.2
  i=$((i+1))
done
i=0
while [ ! -e @ROOT@/drop/orphan-$1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
: > @ROOT@/drop/$1
exec sleep 100
"#;

/// Run by the attack through `setsid` in a subshell that exits at once: it waits until
/// PID 1 adopted it, so it speaks as an orphan, never as a process of the attacker.
const ORPHAN: &str = r#"#!/bin/sh
while [ "$(cut -d' ' -f4 /proc/$$/stat)" != 1 ]; do sleep 0.01; done
P=@ROOT@/pub
B8G_INVOCATION=$(cat $P/victim.inv) INVOCATION_ID=$(cat $P/victim.inv) B8G_UNIT=victim.service \
  @CTL@ notify --barrier READY=1 STATUS=orphan || exit 1
i=0
while [ $i -lt 15 ]; do
  B8G_INVOCATION=$(cat $P/wd.inv) B8G_UNIT=wdvictim.service @CTL@ notify --barrier WATCHDOG=1 || exit 1
  sleep 0.2
  i=$((i+1))
done
: > "$1"
"#;

#[test]
fn notify_forgery_from_another_unit_is_ignored() {
    let mut s = System::new(&[
        // Never says READY=1 itself: must stay activating until its own timeout. It hears
        // all its own processes, so only attribution by credentials protects it.
        ("victim.service", "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=12s\nExecStart=/bin/sh -c 'echo $$B8G_INVOCATION > @ROOT@/pub/victim.inv; echo $$$$ > @ROOT@/pub/victim.pid; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
        // Ready by itself, then silent: its watchdog must fire whatever others send.
        ("wdvictim.service", "[Service]\nType=notify\nNotifyAccess=all\nWatchdogSec=1s\nExecStart=/bin/sh -c 'echo $$B8G_INVOCATION > @ROOT@/pub/wd.inv; @CTL@ notify --barrier READY=1; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
        // An innocent process of another unit, and the MAINPID= target.
        ("bystander.service", "[Service]\nExecStart=/bin/sh -c 'echo $$$$ > @ROOT@/pub/bystander.pid; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
        // Unprivileged, and hears all of its own processes: only its own unit may be affected.
        ("attacker.service", "[Service]\nType=notify\nNotifyAccess=all\nUser=65534\nGroup=65534\nTimeoutStartSec=30s\nExecStart=/bin/sh @ROOT@/bin/attack.sh nobody\n[Install]\nWantedBy=multi-user.target\n"),
        // Root, but another unit: its forged READY=1 is its own (NotifyAccess=none).
        ("rootattacker.service", "[Service]\nExecStart=/bin/sh @ROOT@/bin/attack.sh root\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    script(&s, "bin/attack.sh", ATTACK);
    script(&s, "bin/orphan.sh", ORPHAN);
    std::fs::create_dir_all(s.path("pub")).expect("mkdir pub");
    drop_dir(&s, "drop");
    s.boot_with_users();
    s.wait_for(
        |s| s.path("drop/nobody").exists() && s.path("drop/root").exists(),
        "both attackers to finish",
    );
    // The orphaned forgers really sent their messages (and PID 1 processed them).
    assert!(
        s.path("drop/orphan-nobody").exists() && s.path("drop/orphan-root").exists(),
        "{}\n{}",
        s.log("attacker.service"),
        s.log("rootattacker.service")
    );
    // The attacker really ran unprivileged.
    let attacker_pid = s.status("attacker.service")["main_pid"]
        .as_i64()
        .expect("attacker main pid");
    assert_eq!(
        s.status("attacker.service")["active"],
        "active",
        "{}",
        s.log("attacker.service")
    );
    let bystander = read_trim(&s, "pub/bystander.pid");
    let victim_pid = read_trim(&s, "pub/victim.pid");
    assert!(s.ns_pid_alive(&bystander) && s.ns_pid_alive(&victim_pid));
    assert!(!s.ns_pid_alive("999999"), "the liveness probe can say no");

    // READY=1 with the victim's invocation in the environment did not make it ready.
    let victim = s.status("victim.service");
    assert_eq!(
        victim["active"],
        "activating",
        "{}",
        s.log("victim.service")
    );
    assert_ne!(victim["status"], "forged");
    assert_ne!(victim["status"], "orphan");
    assert!(
        !s.log("victim.service").contains(": ready"),
        "{}",
        s.log("victim.service")
    );
    // ...it went to the attacker's own unit instead; the orphan's went nowhere.
    assert_eq!(s.status("attacker.service")["status"], "forged");
    assert_ne!(s.status("rootattacker.service")["status"], "orphan");

    // WATCHDOG=1 with the other unit's invocation did not keep it alive.
    let wd_log = s.log("wdvictim.service");
    assert!(wd_log.contains("watchdog timeout"), "{wd_log}");
    assert_ne!(s.active("wdvictim.service"), "active", "{wd_log}");

    // MAINPID= for another unit's process, the victim's process and PID 1: refused.
    let log = s.log("attacker.service");
    assert!(
        log.contains(&format!(
            "refused MAINPID={bystander}: pid {bystander} does not belong to the unit and the sender (uid 65534) is not root"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "refused MAINPID={victim_pid}: pid {victim_pid} does not belong"
        )),
        "{log}"
    );
    assert!(
        log.contains("refused MAINPID=1: pid 1 is the service manager itself"),
        "{log}"
    );
    assert_eq!(
        s.status("attacker.service")["main_pid"].as_i64(),
        Some(attacker_pid),
        "the attacker's main pid stayed its own"
    );
    // The root attacker (NotifyAccess=none by default) was not heard at all.
    assert!(
        s.log("rootattacker.service")
            .contains("refused notification from pid"),
        "{}",
        s.log("rootattacker.service")
    );

    // Stopping the attacker kills only the attacker.
    s.ctl_ok(&["stop", "attacker.service", "rootattacker.service"]);
    assert_eq!(s.active("attacker.service"), "inactive");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        s.ns_pid_alive(&bystander),
        "another unit's process was killed"
    );
    assert!(
        s.ns_pid_alive(&victim_pid),
        "the victim's process was killed"
    );
    let by = s.status("bystander.service");
    assert_eq!(by["active"], "active", "{}", s.log("bystander.service"));
    assert_eq!(by["main_pid"].to_string(), bystander);
    assert_eq!(s.active("victim.service"), "activating");

    // The victim times out on its own clock.
    s.wait_state("victim.service", "failed");
    assert!(
        s.log("victim.service").contains("start timed out"),
        "{}",
        s.log("victim.service")
    );
    assert_eq!(s.active("bystander.service"), "active");
    s.poweroff();
}

#[test]
fn notify_from_main_process_and_children_follows_notify_access() {
    let mut s = System::new(&[
        // The main process itself notifies (b8gctl is the main process).
        ("main.service", "[Service]\nType=notify\nUser=65534\nRemainAfterExit=yes\nExecStart=@CTL@ notify --barrier READY=1 STATUS=main\n"),
        // A child of the main process, heard because of NotifyAccess=all.
        ("child-all.service", "[Service]\nType=notify\nNotifyAccess=all\nUser=65534\nExecStart=/bin/sh -c '@CTL@ notify --barrier READY=1 STATUS=child; exec sleep 100'\n"),
        // The same child under the default NotifyAccess=main: not heard, as in systemd.
        ("child-main.service", "[Service]\nType=notify\nUser=65534\nTimeoutStartSec=1500ms\nExecStart=/bin/sh -c '@CTL@ notify --barrier READY=1; exec sleep 100'\n"),
        // MAINPID= naming its own child: accepted from an unprivileged sender.
        ("handover.service", "[Service]\nType=notify\nNotifyAccess=all\nUser=65534\nExecStart=/bin/sh -c 'sleep 100 & echo $$! > @ROOT@/drop/handover.pid; @CTL@ notify --barrier MAINPID=$$! READY=1; wait'\n"),
        // NotifyAccess=none: nothing is heard, even from the main process.
        ("deaf.service", "[Service]\nType=notify\nNotifyAccess=none\nEnvironment=NOTIFY_SOCKET=@ROOT@/run/b8g/notify\nTimeoutStartSec=1500ms\nExecStart=/bin/sh -c 'exec @CTL@ notify --barrier READY=1'\n"),
    ]);
    drop_dir(&s, "drop");
    s.boot_with_users();
    s.wait_ready();

    s.ctl_ok(&["start", "main.service"]);
    assert_eq!(
        s.active("main.service"),
        "active",
        "{}",
        s.log("main.service")
    );
    assert_eq!(s.status("main.service")["status"], "main");

    s.ctl_ok(&["start", "child-all.service"]);
    assert_eq!(s.active("child-all.service"), "active");
    assert_eq!(s.status("child-all.service")["status"], "child");

    let o = s.ctl(&["start", "child-main.service"]);
    assert!(
        !o.status.success(),
        "a child may not notify under NotifyAccess=main"
    );
    let log = s.log("child-main.service");
    assert!(log.contains("refused notification from pid"), "{log}");
    assert!(log.contains("start timed out"), "{log}");
    assert!(!log.contains(": ready"), "{log}");

    s.ctl_ok(&["start", "handover.service"]);
    assert_eq!(s.active("handover.service"), "active");
    let child = read_trim(&s, "drop/handover.pid");
    assert_eq!(
        s.status("handover.service")["main_pid"].to_string(),
        child,
        "{}",
        s.log("handover.service")
    );
    assert!(!s.log("handover.service").contains("refused"));

    let o = s.ctl(&["start", "deaf.service"]);
    assert!(!o.status.success(), "NotifyAccess=none hears nobody");
    assert!(s.log("deaf.service").contains("refused notification"));
    s.poweroff();
}

#[test]
fn pid_file_written_by_an_unprivileged_service_must_name_its_own_process() {
    let mut s = System::new(&[
        ("bystander.service", "[Service]\nExecStart=/bin/sh -c 'echo $$$$ > @ROOT@/pub/bystander.pid; exec sleep 100'\n"),
        // Unprivileged, writes another unit's pid into its own PID file.
        ("forger.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/forger.pid\nExecStart=/bin/sh -c 'cat @ROOT@/pub/bystander.pid > @ROOT@/drop/forger.pid'\n"),
        // ...or PID 1's.
        ("forger1.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/forger1.pid\nExecStart=/bin/sh -c 'echo 1 > @ROOT@/drop/forger1.pid'\n"),
        // Unprivileged, names its own daemon: accepted.
        ("honest.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/honest.pid\nExecStart=/bin/sh -c 'sleep 100 & echo $$! > @ROOT@/drop/honest.pid'\n"),
    ]);
    std::fs::create_dir_all(s.path("pub")).expect("mkdir pub");
    drop_dir(&s, "drop");
    s.boot_with_users();
    s.wait_ready();
    s.ctl_ok(&["start", "bystander.service"]);
    let bystander = s.wait_for_line("pub/bystander.pid", "bystander pid");

    let o = s.ctl(&["start", "forger.service"]);
    assert!(!o.status.success(), "{}", s.log("forger.service"));
    let log = s.log("forger.service");
    assert!(
        log.contains(&format!(
            "pid {bystander} does not belong to the unit and the PID file's owner is not root"
        )),
        "{log}"
    );
    assert_ne!(
        s.status("forger.service")["main_pid"].to_string(),
        bystander
    );
    let o = s.ctl(&["start", "forger1.service"]);
    assert!(!o.status.success());
    assert!(
        s.log("forger1.service")
            .contains("pid 1 is the service manager itself"),
        "{}",
        s.log("forger1.service")
    );
    // The failed starts and their stops killed nothing of the bystander's.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        s.ns_pid_alive(&bystander),
        "another unit's process was killed"
    );
    let by = s.status("bystander.service");
    assert_eq!(by["active"], "active", "{}", s.log("bystander.service"));
    assert_eq!(by["main_pid"].to_string(), bystander);

    s.ctl_ok(&["start", "honest.service"]);
    assert_eq!(s.active("honest.service"), "active");
    assert_eq!(
        s.status("honest.service")["main_pid"].to_string(),
        read_trim(&s, "drop/honest.pid"),
        "{}",
        s.log("honest.service")
    );
    s.poweroff();
}
