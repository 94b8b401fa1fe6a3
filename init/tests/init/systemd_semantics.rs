//! Issue 16: where b8g-init differed from systemd's documented semantics on real
//! Debian 12 unit files. One test per difference, named after it.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn timeout_zero_and_infinity_mean_no_timeout() {
    // The harness starts b8g-init with --timeout-start 10s --timeout-stop 2s.
    let mut s = System::new(&[
        ("zerostart.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=0\nExecStart=/bin/sleep 0.3\n"),
        ("zerostop.service", "[Service]\nTimeoutStopSec=0\nExecStart=/bin/sh -c 'trap \"sleep 0.3; echo stopped cleanly; exit 0\" TERM; while :; do sleep 0.05; done'\n"),
        ("infinite.service", "[Service]\nTimeoutSec=infinity\nExecStart=/bin/sh -c 'trap \"sleep 2.5; echo stopped after the default; exit 0\" TERM; while :; do sleep 0.05; done'\n"),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "zerostart.service"]);
    assert_eq!(s.active("zerostart.service"), "active");
    s.ctl_ok(&["start", "zerostop.service", "infinite.service"]);
    std::thread::sleep(Duration::from_millis(200));
    s.ctl_ok(&["stop", "zerostop.service"]);
    assert!(
        s.log("zerostop.service").contains("stopped cleanly"),
        "TimeoutStopSec=0 waits: {}",
        s.log("zerostop.service")
    );
    assert_eq!(s.active("zerostop.service"), "inactive");
    let t = Instant::now();
    s.ctl_ok(&["stop", "infinite.service"]);
    assert!(t.elapsed() >= Duration::from_millis(2400));
    assert!(
        s.log("infinite.service")
            .contains("stopped after the default"),
        "TimeoutSec=infinity outlasts the default stop timeout: {}",
        s.log("infinite.service")
    );
    assert_eq!(s.active("infinite.service"), "inactive");
    s.poweroff();
}

#[test]
fn user_gets_its_supplementary_groups_from_etc_group() {
    // Regression: only the primary group and SupplementaryGroups= reached the service;
    // systemd calls initgroups(3) for User=.
    let mut s = System::new(&[(
        "groups.service",
        "[Service]\nType=oneshot\nUser=svc\nSupplementaryGroups=extra\nExecStart=/bin/sh -c 'echo groups=$$(id -G)'\n",
    )]);
    s.write(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nsvc:x:1000:1000::/:/bin/sh\n",
    );
    s.write(
        "etc/group",
        "root:x:0:\nadm:x:4:syslog,svc\nsvc:x:1000:\nextra:x:2000:\nother:x:3000:bob\n",
    );
    s.boot_with_users();
    s.wait_ready();
    s.ctl_ok(&["start", "groups.service"]);
    let log = s.log("groups.service");
    let line = log
        .lines()
        .find_map(|l| l.split_once(": groups=").map(|(_, g)| g.trim().to_string()))
        .unwrap_or_else(|| panic!("no groups line: {log}"));
    let mut ids: Vec<u32> = line
        .split_whitespace()
        .map(|g| g.parse().unwrap_or_else(|_| panic!("{g:?} in {log}")))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [4, 1000, 2000], "{log}");
    s.poweroff();
}

#[test]
fn limit_nofile_infinity_is_clamped_to_nr_open() {
    // Regression: LimitNOFILE=infinity failed the exec (EPERM); systemd clamps it to
    // the kernel's fs.nr_open, or as close as the hard limit allows (b8g-init raises its
    // own to nr_open, which a user namespace does not let it do here).
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .expect("nr_open")
        .trim()
        .parse()
        .expect("number");
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) }, 0);
    let expect = nr_open.min(own.rlim_max);
    let mut s = System::new(&[(
        "nofile.service",
        "[Service]\nType=oneshot\nLimitNOFILE=infinity\nLimitCORE=infinity\nLimitMEMLOCK=64K\nExecStart=/bin/sh -c 'echo nofile=$$(ulimit -n) memlock=$$(ulimit -l)'\n",
    )]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "nofile.service"]);
    let log = s.log("nofile.service");
    assert!(
        log.contains(&format!("nofile={expect} memlock=64")),
        "{log}"
    );
    s.poweroff();
}

#[test]
fn b8gctl_exits_quietly_when_its_reader_is_gone() {
    // Regression: `b8gctl status | head` panicked on the broken pipe.
    let mut s = System::new(&[(
        "a.service",
        "[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n",
    )]);
    s.boot();
    s.wait_ready();
    let mut fds = [0; 2];
    // SAFETY: pipe with a valid array; both ends are owned below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh fds from pipe(2); the read end is closed at once.
    let (r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(r);
    for args in [&["status"][..], &["list-units"], &["log", "a.service"]] {
        let o = std::process::Command::new(CTL)
            .arg("--socket")
            .arg(s.path("run/b8g/control"))
            .args(args)
            .stdout(std::process::Stdio::from(w.try_clone().expect("dup")))
            .output()
            .expect("run b8gctl");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.is_empty(), "{args:?}: {o:?}");
    }
    s.poweroff();
}

#[test]
fn try_restart_leaves_an_inactive_unit_alone() {
    // Regression: try-restart started an inactive unit.
    let mut s = System::new(&[
        (
            "idle.service",
            "[Service]\nExecStart=/bin/sh -c 'echo started; exec sleep 100'\n",
        ),
        (
            "busy.service",
            "[Service]\nExecStart=/bin/sh -c 'echo started; exec sleep 100'\nExecReload=/bin/echo reloaded\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["try-restart", "idle.service"]);
    assert_eq!(s.active("idle.service"), "inactive");
    assert!(!s.log("idle.service").contains("started"));
    s.ctl_ok(&["start", "busy.service"]);
    let pid = s.status("busy.service")["main_pid"].clone();
    s.ctl_ok(&["try-restart", "busy.service"]);
    assert_eq!(s.active("busy.service"), "active");
    assert_ne!(s.status("busy.service")["main_pid"], pid, "restarted");
    // reload-or-restart reloads a unit that can reload, and starts a stopped one.
    let pid = s.status("busy.service")["main_pid"].clone();
    s.ctl_ok(&["reload-or-restart", "busy.service", "idle.service"]);
    assert_eq!(
        s.status("busy.service")["main_pid"],
        pid,
        "reloaded, not restarted"
    );
    assert!(s.log("busy.service").contains("reloaded"));
    assert_eq!(s.active("idle.service"), "active");
    s.poweroff();
}

#[test]
fn condition_path_exists_glob_is_checked() {
    // Regression: ConditionPathExistsGlob= was taken as met.
    let mut s = System::new(&[
        (
            "nomatch.service",
            "[Unit]\nConditionPathExistsGlob=@ROOT@/conf.d/*.conf\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo ran\n",
        ),
        (
            "assert.service",
            "[Unit]\nAssertPathExistsGlob=@ROOT@/conf.d/*.conf\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo ran\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "nomatch.service"]);
    assert_eq!(s.active("nomatch.service"), "inactive");
    assert!(!s.log("nomatch.service").contains(": ran"));
    assert!(!s.ctl(&["start", "assert.service"]).status.success());
    s.write("conf.d/a.conf", "x\n");
    s.ctl_ok(&["start", "nomatch.service", "assert.service"]);
    assert_eq!(s.active("nomatch.service"), "active");
    assert_eq!(s.active("assert.service"), "active");
    s.poweroff();
}

#[test]
fn exec_condition_skips_without_failing_or_fails_on_255() {
    // Regression: ExecCondition= was ignored (Debian's samba units always started).
    let mut s = System::new(&[
        (
            "skip.service",
            "[Service]\nRestart=always\nExecCondition=/bin/sh -c 'echo checking; exit 1'\nExecStart=/bin/sh -c 'echo main-ran; exec sleep 100'\nExecStopPost=/bin/echo stop-post\n",
        ),
        (
            "after-skip.service",
            "[Unit]\nRequires=skip.service\nAfter=skip.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo dependent\n",
        ),
        (
            "fail.service",
            "[Service]\nExecCondition=/bin/sh -c 'exit 255'\nExecStart=/bin/sleep 100\n",
        ),
        (
            "pass.service",
            "[Service]\nExecCondition=/bin/true\nExecCondition=/bin/sh -c 'exit 0'\nExecStart=/bin/sh -c 'echo main-ran; exec sleep 100'\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "after-skip.service"]);
    let log = s.log("skip.service");
    assert!(
        log.contains("checking") && !log.contains("main-ran"),
        "{log}"
    );
    assert!(
        log.contains("stop-post"),
        "ExecStopPost= runs after a skip: {log}"
    );
    assert_eq!(s.active("skip.service"), "inactive");
    assert_eq!(s.active("after-skip.service"), "active");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !s.log("skip.service").contains("restart"),
        "Restart=always does not fire on a skip: {}",
        s.log("skip.service")
    );
    assert!(!s.ctl(&["start", "fail.service"]).status.success());
    assert_eq!(s.active("fail.service"), "failed");
    s.ctl_ok(&["start", "pass.service"]);
    assert_eq!(s.active("pass.service"), "active");
    assert!(s.log("pass.service").contains("main-ran"));
    s.poweroff();
}

#[test]
fn forking_service_waits_for_a_pid_file_written_after_the_parent_exits() {
    // Regression: the PID file was read once, right when the parent exited.
    let mut s = System::new(&[
        (
            "late.service",
            "[Service]\nType=forking\nPIDFile=@ROOT@/run/late.pid\nExecStart=/bin/sh -c '(sleep 100 & p=$!; sleep 0.5; echo $p > @ROOT@/run/late.pid) & exit 0'\n",
        ),
        (
            "never.service",
            "[Service]\nType=forking\nPIDFile=@ROOT@/run/never.pid\nExecStart=/bin/true\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "late.service"]);
    assert_eq!(
        s.active("late.service"),
        "active",
        "{}",
        s.log("late.service")
    );
    let pid = s.wait_for_line("run/late.pid", "late.pid");
    assert_eq!(
        s.status("late.service")["main_pid"]
            .as_i64()
            .map(|p| p.to_string()),
        Some(pid)
    );
    // With no process left to write it, waiting ends at once.
    let t = Instant::now();
    assert!(!s.ctl(&["start", "never.service"]).status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(s.active("never.service"), "failed");
    s.poweroff();
}

#[test]
fn requires_on_a_device_follows_its_node() {
    // Regression: Requires=/BindsTo= on a .device failed the dependent unit.
    let mut s = System::new(&[
        (
            "tty.service",
            "[Unit]\nBindsTo=dev-null.device\nAfter=dev-null.device\nRequires=sys-subsystem-net-devices-lo.device\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo ran\n",
        ),
        (
            "nodev.service",
            "[Unit]\nRequires=dev-b8g\\x2dno\\x2dsuch\\x2ddevice.device\nAfter=dev-b8g\\x2dno\\x2dsuch\\x2ddevice.device\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo ran\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "tty.service"]);
    assert_eq!(s.active("tty.service"), "active");
    assert_eq!(s.active("dev-null.device"), "active");
    assert!(!s.ctl(&["start", "nodev.service"]).status.success());
    assert_ne!(s.active("nodev.service"), "active");
    s.poweroff();
}

#[test]
fn socket_whose_service_is_an_alias_activates_it_once() {
    // Regression: with Debian's syslog.socket → syslog.service → rsyslog.service (an
    // alias by symlink), PID 1 watched the alias's state, which never changed: it spun
    // at 100 % CPU logging "incoming traffic", and a stop turned back into a start.
    let mut s = System::new(&[
        (
            "syslog.socket",
            "[Socket]\nListenDatagram=@ROOT@/run/devlog\n",
        ),
        (
            "rsyslog.service",
            "[Service]\nExecStart=/bin/sh -c 'exec cat <&3'\n[Install]\nAlias=syslog.service\n",
        ),
    ]);
    std::os::unix::fs::symlink(
        "rsyslog.service",
        s.path("etc/systemd/system/syslog.service"),
    )
    .expect("alias link");
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "syslog.socket"]);
    let tx = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    tx.send_to(b"first-message\n", s.path("run/devlog"))
        .expect("send");
    s.wait_for(
        |s| s.log("rsyslog.service").contains("first-message"),
        "rsyslog to read the message",
    );
    std::thread::sleep(Duration::from_millis(300));
    let sock_log = s.log("syslog.socket");
    assert_eq!(
        sock_log.matches("incoming traffic").count(),
        1,
        "{sock_log}"
    );
    s.ctl_ok(&["stop", "rsyslog.service"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.active("rsyslog.service"), "inactive");
    tx.send_to(b"second-message\n", s.path("run/devlog"))
        .expect("send");
    s.wait_for(
        |s| s.log("rsyslog.service").contains("second-message"),
        "new traffic to activate rsyslog again",
    );
    s.poweroff();
}

#[test]
fn dynamic_user_runs_unprivileged_with_its_own_state_directory() {
    // Regression (newcomer pass): DynamicUser=yes was parsed and ignored, so the
    // service ran as root.
    let mut s = System::new_in(std::path::Path::new("/run"), &[(
        "dyn.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nDynamicUser=yes\nStateDirectory=dyn\nExecStart=/bin/sh -c 'echo who=$$(id -u):$$(id -g):$$USER; touch $$STATE_DIRECTORY/f; grep NoNewPrivs /proc/self/status'\n[Install]\nWantedBy=multi-user.target\n",
    )]);
    s.boot_with_users();
    s.wait_ready();
    s.wait_for(
        |s| s.log("dyn.service").contains("who=") || s.log("dyn.service").contains("failed"),
        "dyn's line",
    );
    let log = s.log("dyn.service");
    let who = log
        .lines()
        .find_map(|l| l.split("dyn.service: who=").nth(1))
        .unwrap_or_else(|| panic!("no who line:\n{log}"))
        .trim()
        .to_string();
    let mut f = who.split(':');
    let uid: u32 = f
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{log}"));
    let gid: u32 = f.next().unwrap().parse().unwrap();
    assert!((61184..=65519).contains(&uid), "{log}");
    assert_eq!(uid, gid, "{log}");
    assert_eq!(f.next(), Some("dyn"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(s.path("var/lib/dyn/f"))
        .unwrap_or_else(|e| panic!("state file: {e}\n{log}"));
    assert_eq!(meta.uid(), uid);
    s.poweroff();
}

#[test]
fn a_mounted_path_makes_its_mount_unit_active_and_a_dash_command_that_cannot_run_is_skipped() {
    // Regressions from Debian's root with systemd installed: systemd-fstab-generator's
    // -.mount was mounted over / again (EBUSY) and failed everything that has
    // RequiresMountsFor=; modprobe@.service's `ExecStart=-/sbin/modprobe …` failed the
    // unit when modprobe was missing, where systemd ignores the 203/EXEC status.
    let mut s = System::new(&[
        ("-.mount", "[Mount]\nWhat=/dev/no-such-disk\nWhere=/\nType=ext4\n"),
        (
            "needs-root.service",
            "[Unit]\nRequiresMountsFor=/var/lib/x\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        ),
        (
            "skip.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStartPre=-/no/such/modprobe -abq x\nExecStart=-/no/such/either\nExecStart=/bin/sh -c 'echo went on'\n",
        ),
        (
            "strict.service",
            "[Service]\nType=oneshot\nExecStartPre=/no/such/modprobe\nExecStart=/bin/true\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "needs-root.service"]);
    assert_eq!(s.active("needs-root.service"), "active");
    assert_eq!(s.active("-.mount"), "active", "{}", s.log("-.mount"));
    s.ctl_ok(&["start", "skip.service"]);
    assert_eq!(
        s.active("skip.service"),
        "active",
        "{}",
        s.log("skip.service")
    );
    assert!(s.log("skip.service").contains("went on"));
    assert!(!s.ctl(&["start", "strict.service"]).status.success());
    assert_eq!(s.active("strict.service"), "failed");
    s.poweroff();
}

#[test]
fn systemds_journal_units_are_b8g_init_itself() {
    // On a root with systemd installed (the bench image), sysinit.target wants journald,
    // whose dev-log socket is the path b8g-init's own /dev/log listens on.
    let mut s = System::new(&[
        (
            "systemd-journald-dev-log.socket",
            "[Socket]\nService=systemd-journald.service\nListenDatagram=@ROOT@/run/journald-would-bind\n",
        ),
        (
            "systemd-journald.service",
            "[Unit]\nRequires=systemd-journald-dev-log.socket\n[Service]\nExecStart=/bin/false\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "systemd-journald.service"]);
    assert_eq!(s.active("systemd-journald.service"), "active");
    assert_eq!(s.active("systemd-journald-dev-log.socket"), "active");
    assert!(!s.path("run/journald-would-bind").exists());
    assert!(s
        .log("systemd-journald.service")
        .contains("the journal is b8g-init itself"));
    s.poweroff();
}
