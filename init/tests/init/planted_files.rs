//! PID 1 reads and chowns nothing an unprivileged service planted: a FIFO or a
//! `/dev/zero` link as its PID file must not block PID 1 or make it read without end,
//! and a symlink where one of its exec directories belongs must not make PID 1 chown
//! and chmod the link's target.
//!
//! Booted with [`System::boot_with_users`], so the attacker really runs as nobody.

use std::os::unix::fs::MetadataExt;

use crate::harness::System;

/// A world-writable sticky directory, like /tmp.
fn drop_dir(s: &System, path: &str) {
    std::fs::create_dir_all(s.path(path)).expect("mkdir");
    std::fs::set_permissions(
        s.path(path),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod drop dir");
}

#[test]
fn fifo_or_device_as_pid_file_does_not_stall_pid1() {
    let mut s = System::new(&[
        ("fifo.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/fifo.pid\nExecStart=/bin/sh -c 'mkfifo @ROOT@/drop/fifo.pid; sleep 1000 & exit 0'\n"),
        ("zero.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/zero.pid\nExecStart=/bin/sh -c 'ln -s /dev/zero @ROOT@/drop/zero.pid; sleep 1000 & exit 0'\n"),
        // Leaves an orphan that exits at once: PID 1 must still reap.
        ("orphaner.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c '(sleep 0.3 & echo $$! > @ROOT@/drop/orphan.pid)'\n"),
        ("honest.service", "[Service]\nType=forking\nUser=65534\nPIDFile=@ROOT@/drop/honest.pid\nExecStart=/bin/sh -c 'sleep 1000 & echo $$! > @ROOT@/drop/honest.pid'\n"),
    ]);
    drop_dir(&s, "drop");
    s.boot_with_users();
    s.wait_ready();

    // Without the fix the first start never returns (b8gctl's 30 s read timeout ends
    // it) and every later b8gctl call times out too.
    let o = s.ctl(&["start", "fifo.service"]);
    assert!(!o.status.success(), "{}", s.log("fifo.service"));
    let log = s.log("fifo.service");
    assert!(
        log.contains("refused PID file:") && log.contains("fifo.pid is a FIFO, not a regular file"),
        "{log}"
    );
    assert_eq!(s.active("fifo.service"), "failed", "{log}");

    let o = s.ctl(&["start", "zero.service"]);
    assert!(!o.status.success(), "{}", s.log("zero.service"));
    let log = s.log("zero.service");
    assert!(
        log.contains("zero.pid is a character device, not a regular file"),
        "{log}"
    );
    assert_eq!(s.active("zero.service"), "failed", "{log}");

    // PID 1 still does its work: starts units, reaps orphans, answers status.
    s.ctl_ok(&["start", "orphaner.service"]);
    let orphan = s.wait_for_line("drop/orphan.pid", "the orphan's pid");
    s.wait_for(
        |s| {
            std::fs::read_to_string(format!("/proc/{}/root/proc/{orphan}/stat", s.init_pid()))
                .is_err()
        },
        &format!("orphan {orphan} to be reaped"),
    );
    s.ctl_ok(&["start", "honest.service"]);
    assert_eq!(
        s.active("honest.service"),
        "active",
        "{}",
        s.log("honest.service")
    );
    s.poweroff();
}

#[test]
fn planted_symlink_in_exec_directory_is_not_followed() {
    let mut s = System::new(&[
        // First start: PID 1 makes var/lib/atk and var/lib/atk/sub, owned by nobody;
        // the service swaps sub for a symlink to a root-only file.
        ("atk.service", "[Service]\nType=oneshot\nUser=65534\nStateDirectory=atk atk/sub\nExecStart=/bin/sh -c 'if [ -d @ROOT@/var/lib/atk/sub ] && [ ! -L @ROOT@/var/lib/atk/sub ]; then rmdir @ROOT@/var/lib/atk/sub && ln -s @ROOT@/secret/host-secret @ROOT@/var/lib/atk/sub; fi'\n"),
        // The same through LogsDirectory=, at a root-only directory.
        ("logatk.service", "[Service]\nType=oneshot\nUser=65534\nLogsDirectory=latk latk/sub\nExecStart=/bin/sh -c 'if [ -d @ROOT@/var/log/latk/sub ] && [ ! -L @ROOT@/var/log/latk/sub ]; then rmdir @ROOT@/var/log/latk/sub && ln -s @ROOT@/secret/hostdir @ROOT@/var/log/latk/sub; fi'\n"),
        // RuntimeDirectory= listed deepest first: PID 1 makes run/ratk/sub root-owned,
        // run/ratk nobody's; the service swaps sub for a symlink, and the removal of
        // ratk/sub/victim when it stops must not delete secret/rtdir/victim.
        ("ratk.service", "[Service]\nType=oneshot\nUser=65534\nRuntimeDirectory=ratk/sub/victim ratk\nExecStart=/bin/sh -c 'mv @ROOT@/run/ratk/sub @ROOT@/run/ratk/old && ln -s @ROOT@/secret/rtdir @ROOT@/run/ratk/sub'\n"),
        ("bystander.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
    ]);
    std::fs::create_dir_all(s.path("secret/hostdir")).expect("mkdir secret");
    std::fs::create_dir_all(s.path("secret/rtdir/victim")).expect("mkdir rtdir");
    s.write("secret/rtdir/victim/keep", "kept\n");
    s.write("secret/host-secret", "root only\n");
    for (p, mode) in [
        ("secret/host-secret", 0o600),
        ("secret/hostdir", 0o700),
        // Traversable, so the service can name the target (not read it).
        ("secret", 0o711),
    ] {
        std::fs::set_permissions(
            s.path(p),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .expect("chmod secret");
    }
    s.boot_with_users();
    s.wait_ready();

    for (unit, link, target, mode) in [
        (
            "atk.service",
            "var/lib/atk/sub",
            "secret/host-secret",
            0o600,
        ),
        (
            "logatk.service",
            "var/log/latk/sub",
            "secret/hostdir",
            0o700,
        ),
    ] {
        s.ctl_ok(&["start", unit]);
        assert!(
            s.path(link)
                .symlink_metadata()
                .is_ok_and(|m| m.is_symlink()),
            "the attack planted no symlink: {}",
            s.log(unit)
        );
        let o = s.ctl(&["start", unit]);
        assert!(
            !o.status.success(),
            "{unit} started through a planted symlink: {}",
            s.log(unit)
        );
        let log = s.log(unit);
        assert!(
            log.contains(&format!(
                "cannot set up exec directory: {} is a symlink, not a directory",
                s.path(link).display()
            )),
            "{log}"
        );
        assert_eq!(s.active(unit), "failed", "{log}");
        let m = std::fs::metadata(s.path(target)).expect("target");
        assert_eq!(m.mode() & 0o7777, mode, "{target} mode changed");
        assert_eq!((m.uid(), m.gid()), (0, 0), "{target} owner changed");
    }

    s.ctl_ok(&["start", "ratk.service"]);
    s.wait_state("ratk.service", "inactive");
    let log = s.log("ratk.service");
    assert!(
        s.path("secret/rtdir/victim/keep").exists(),
        "PID 1 removed a directory through a planted symlink: {log}"
    );
    assert!(
        log.contains(&format!(
            "cannot remove runtime directory: {} is a symlink",
            s.path("run/ratk/sub").display()
        )),
        "{log}"
    );
    assert!(!s.path("run/ratk").exists(), "{log}");

    // PID 1 carries on.
    s.ctl_ok(&["start", "bystander.service"]);
    assert_eq!(s.active("bystander.service"), "active");
    s.poweroff();
}
