//! The scenarios: one test per behaviour, each with its own namespace.

use crate::harness::*;

#[test]
fn ordering_and_parallel_start() {
    let mut s = System::new(&[
        ("slow.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo begin; sleep 0.4; echo end'\n[Install]\nWantedBy=multi-user.target\n"),
        ("p1.service", "[Unit]\nRequires=slow.service\nAfter=slow.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo p1; sleep 0.3'\n[Install]\nWantedBy=multi-user.target\n"),
        ("p2.service", "[Unit]\nWants=slow.service\nAfter=slow.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo p2; sleep 0.3'\n[Install]\nWantedBy=multi-user.target\n"),
        ("first.service", "[Unit]\nBefore=slow.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo first\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    let first = ms_of(&s.log("first.service"), "first");
    let slow_begin = ms_of(&s.log("slow.service"), "begin");
    let slow_end = ms_of(&s.log("slow.service"), ": end");
    let p1 = ms_of(&s.log("p1.service"), ": p1");
    let p2 = ms_of(&s.log("p2.service"), ": p2");
    assert!(
        first <= slow_begin,
        "Before= ordering: {first} {slow_begin}"
    );
    assert!(
        p1 >= slow_end && p2 >= slow_end,
        "After= ordering: {slow_end} {p1} {p2}"
    );
    assert!(
        p1.abs_diff(p2) < 200,
        "p1 and p2 start in parallel: {p1} {p2}"
    );
    let ready = s.console();
    assert!(ready.contains("b8g: system ready in"));
    assert!(s.path("var/lib/b8g/boot-good").exists());
    assert_eq!(s.ctl_ok(&["is-system-running"]).trim(), "running");
    s.poweroff();
}

#[test]
fn service_types_notify_and_forking() {
    let mut s = System::new(&[
        ("simple.service", "[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n"),
        ("exec.service", "[Service]\nType=exec\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n"),
        ("idle.service", "[Service]\nType=idle\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n"),
        ("oneshot.service", "[Service]\nType=oneshot\nExecStart=/bin/true\nExecStart=/bin/echo second\n[Install]\nWantedBy=multi-user.target\n"),
        ("notify.service", "[Service]\nType=notify\nExecStart=/bin/sh -c 'sleep 0.3; @CTL@ notify --barrier READY=1 STATUS=serving; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
        ("after-notify.service", "[Unit]\nAfter=notify.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo after\n[Install]\nWantedBy=multi-user.target\n"),
        ("s6.service", "[Service]\nType=notify\nX-NotificationFd=5\nExecStart=/bin/sh -c 'sleep 0.1; echo >&5; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
        ("forking.service", "[Service]\nType=forking\nPIDFile=@ROOT@/run/fork.pid\nExecStart=/bin/sh -c 'sleep 100 & echo $! > @ROOT@/run/fork.pid'\n[Install]\nWantedBy=multi-user.target\n"),
        ("badexec.service", "[Service]\nType=exec\nExecStart=/nonexistent/binary\n"),
    ]);
    s.boot();
    s.wait_ready();
    for u in [
        "simple.service",
        "exec.service",
        "idle.service",
        "notify.service",
        "s6.service",
        "forking.service",
        "after-notify.service",
    ] {
        assert_eq!(s.active(u), "active", "{u}: {}", s.log(u));
    }
    assert_eq!(s.active("oneshot.service"), "inactive");
    assert!(s.log("oneshot.service").contains("second"));
    assert_eq!(s.status("notify.service")["status"], "serving");
    let n = ms_of(&s.log("notify.service"), "ready");
    let a = ms_of(&s.log("after-notify.service"), ": after");
    assert!(a >= n, "After= a notify service waits for READY=1: {n} {a}");
    let fpid = std::fs::read_to_string(s.path("run/fork.pid")).unwrap();
    assert_eq!(
        s.status("forking.service")["main_pid"]
            .as_i64()
            .unwrap()
            .to_string(),
        fpid.trim()
    );
    let o = s.ctl(&["start", "badexec.service"]);
    assert!(!o.status.success());
    assert!(
        s.log("badexec.service").contains("failed to execute"),
        "{}",
        s.log("badexec.service")
    );
    s.poweroff();
}

#[test]
fn socket_activation_unix() {
    let mut s = System::new(&[
        ("echo.socket", "[Socket]\nListenStream=@ROOT@/run/echo.sock\n[Install]\nWantedBy=sockets.target\n"),
        ("echo.service", "[Service]\nExecStart=/bin/sh -c 'echo \"fds=$LISTEN_FDS names=$LISTEN_FDNAMES pidok=$$(test $$LISTEN_PID = $$$$ && echo yes)\"; exec perl -e \"open(L, qq(+<&=3)) or die; accept(C, L) or die; syswrite(C, qq(hello from activated service\\n))\"'\n"),
    ]);
    // perl is Essential in Debian; the service needs something that can accept() on fd 3.
    assert!(
        std::process::Command::new("perl")
            .arg("-e")
            .arg("1")
            .status()
            .is_ok_and(|st| st.success()),
        "perl is required by this test (its socket-activated service accepts on fd 3)"
    );
    s.boot();
    s.wait_ready();
    assert_eq!(s.active("echo.socket"), "active");
    assert_eq!(s.active("echo.service"), "inactive");
    // The client connects before the service runs; the kernel queues the connection.
    let mut c = std::os::unix::net::UnixStream::connect(s.path("run/echo.sock")).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = String::new();
    std::io::Read::read_to_string(&mut c, &mut buf).expect("read");
    assert_eq!(buf, "hello from activated service\n");
    assert!(
        s.log("echo.service").contains("fds=1 names=echo pidok=yes"),
        "{}",
        s.log("echo.service")
    );
    s.poweroff();
}

#[test]
fn restart_backoff_and_start_limit() {
    let mut s = System::new(&[
        ("crash.service", "[Unit]\nStartLimitIntervalSec=10s\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c 'echo run; exit 3'\nRestart=on-failure\nRestartSec=50ms\n[Install]\nWantedBy=multi-user.target\n"),
        ("backoff.service", "[Unit]\nStartLimitBurst=100\n[Service]\nExecStart=/bin/sh -c 'exit 1'\nRestart=always\nRestartSec=50ms\nRestartMaxDelaySec=400ms\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_state("crash.service", "failed");
    let st = s.status("crash.service");
    assert!(
        st["result"].as_str().unwrap().contains("start-limit-hit"),
        "{st}"
    );
    assert_eq!(s.log("crash.service").matches(": run").count(), 3);
    s.ctl_ok(&["reset-failed", "crash.service"]);
    assert_eq!(s.active("crash.service"), "inactive");
    s.wait_for(
        |s| s.log("backoff.service").contains("scheduling restart #5"),
        "five restarts",
    );
    let log = s.log("backoff.service");
    assert!(
        log.contains("in 50 ms")
            && log.contains("in 100 ms")
            && log.contains("in 200 ms")
            && log.contains("in 400 ms"),
        "{log}"
    );
    s.ctl_ok(&["stop", "backoff.service"]);
    assert_eq!(s.active("backoff.service"), "inactive");
    s.poweroff();
}

#[test]
fn timers_fire() {
    let mut s = System::new(&[
        (
            "tick.timer",
            "[Timer]\nOnBootSec=200ms\nOnUnitActiveSec=300ms\n[Install]\nWantedBy=timers.target\n",
        ),
        (
            "tick.service",
            "[Service]\nType=oneshot\nExecStart=/bin/echo tick\n",
        ),
    ]);
    s.boot();
    s.wait_for(
        |s| s.log("tick.service").matches(": tick").count() >= 3,
        "three ticks",
    );
    // Fire times from the timer's own log: 200 ms after boot, then 300 ms after each
    // activation of the service (which starts a little after the timer fires).
    let log = s.log("tick.timer");
    let times: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("elapsed"))
        .map(|l| ms_of(l, "elapsed"))
        .collect();
    assert!(times.len() >= 3, "{log}");
    assert!(times[0] >= 200, "{times:?}");
    // Log stamps are taken a moment after the timer fires, so allow some jitter.
    assert!(
        times[1] - times[0] >= 250 && times[2] - times[1] >= 250,
        "{times:?}"
    );
    s.poweroff();
}

#[test]
fn reaps_a_thousand_zombie_grandchildren() {
    let mut s = System::new(&[(
        "zombies.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'i=0; while [ $$i -lt 1000 ]; do (/bin/true &) ; i=$$((i+1)); done; echo spawned $$i'\n[Install]\nWantedBy=multi-user.target\n",
    )]);
    s.boot();
    s.wait_ready();
    assert!(
        s.log("zombies.service").contains("spawned 1000"),
        "{}",
        s.log("zombies.service")
    );
    // Nothing in the namespace may stay a zombie: count them through b8g-init's own view.
    s.write("units/count.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo zombies=$(grep -l \"^State:.*Z\" /proc/[0-9]*/status 2>/dev/null | wc -l)'\n");
    s.ctl_ok(&["daemon-reload"]);
    s.wait_for(
        |s| {
            s.ctl(&["start", "count.service"]);
            s.log("count.service").contains("zombies=0")
        },
        "zero zombies",
    );
    s.poweroff();
}

#[test]
fn kill_modes_and_stop_timeout() {
    let mut s = System::new(&[
        ("cg.service", "[Service]\nExecStart=/bin/sh -c 'sleep 100 & echo $! > @ROOT@/run/cg.child; exec sleep 100'\n"),
        ("proc.service", "[Service]\nKillMode=process\nExecStart=/bin/sh -c 'sleep 100 & echo $! > @ROOT@/run/proc.child; exec sleep 100'\n"),
        ("stubborn.service", "[Service]\nTimeoutStopSec=500ms\nExecStart=/bin/sh -c 'trap \"echo got TERM\" TERM; while :; do sleep 0.05; done'\n"),
    ]);
    s.boot();
    s.wait_ready();
    for u in ["cg.service", "proc.service", "stubborn.service"] {
        s.ctl_ok(&["start", u]);
    }
    s.wait_for(
        |s| s.path("run/cg.child").exists() && s.path("run/proc.child").exists(),
        "pid files",
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.ctl_ok(&["stop", "cg.service", "proc.service"]);
    // Count surviving sleeps from inside the namespace.
    s.write("units/ps.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'for f in cg proc; do p=$(cat @ROOT@/run/$$f.child); if [ -d /proc/$$p ]; then echo $$f=alive; else echo $$f=gone; fi; done'\n");
    s.ctl_ok(&["daemon-reload"]);
    s.ctl_ok(&["start", "ps.service"]);
    let log = s.log("ps.service");
    assert!(
        log.contains("cg=gone"),
        "control-group kills the whole unit: {log}"
    );
    assert!(
        log.contains("proc=alive"),
        "KillMode=process leaves other processes: {log}"
    );
    let t = std::time::Instant::now();
    s.ctl_ok(&["stop", "stubborn.service"]);
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(450),
        "waited for the stop timeout"
    );
    let log = s.log("stubborn.service");
    assert!(
        log.contains("got TERM") && log.contains("sending SIGKILL"),
        "{log}"
    );
    assert_eq!(s.active("stubborn.service"), "failed");
    s.poweroff();
}

#[test]
fn malformed_units_and_cycles_do_not_stop_the_boot() {
    let mut s = System::new(&[
        ("broken.service", "[Unit]\nDescription=broken\n[Service]\nType=bogus\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
        ("needs-missing.service", "[Unit]\nRequires=missing.service\n[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n"),
        ("good.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
        ("cyc-a.service", "[Unit]\nAfter=cyc-b.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
        ("cyc-b.service", "[Unit]\nAfter=cyc-a.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    let c = s.console();
    assert!(
        c.contains("broken.service:4: error: Type=: unknown service type \"bogus\""),
        "{c}"
    );
    assert!(c.contains("ordering cycle found"), "{c}");
    assert_eq!(s.active("good.service"), "active");
    assert_eq!(s.active("needs-missing.service"), "inactive");
    assert!(s.status("needs-missing.service")["result"]
        .as_str()
        .unwrap_or("")
        .contains("missing.service: unit not found"));
    let a = s.active("cyc-a.service");
    let b = s.active("cyc-b.service");
    assert!(
        a == "active" || b == "active",
        "one side of the cycle starts: {a} {b}"
    );
    assert!(s.status("broken.service")["load"]
        .as_str()
        .unwrap()
        .starts_with("error"));
    s.poweroff();
}

#[test]
fn sysv_inittab_respawn_and_lsb_ordering() {
    let mut s = System::new(&[]);
    s.write("etc/inittab", "id:3:initdefault:\nsi::sysinit:/bin/echo sysinit-ran\nr1:3:respawn:/bin/sh -c 'echo respawned; sleep 0.1'\n");
    s.write("etc/init.d/db", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: database\n# Required-Start: $local_fs\n# Default-Start: 3\n### END INIT INFO\n[ \"$1\" = start ] && sleep 0.3 && echo db-started\nexit 0\n");
    s.write("etc/init.d/web", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: web\n# Required-Start: database $network\n# Default-Start: 3\n### END INIT INFO\n[ \"$1\" = start ] && echo web-started\nexit 0\n");
    for f in ["etc/init.d/db", "etc/init.d/web"] {
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(s.path(f)).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(
            s.path(f),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    s.boot();
    s.wait_ready();
    assert!(s.log("inittab-si.service").contains("sysinit-ran"));
    let db = ms_of(&s.log("db.service"), "db-started");
    let web = ms_of(&s.log("web.service"), "web-started");
    assert!(
        web >= db,
        "LSB Required-Start orders web after db: {db} {web}"
    );
    s.wait_for(
        |s| s.log("inittab-r1.service").matches(": respawned").count() >= 3,
        "respawns",
    );
    assert_eq!(s.active("runlevel3.target"), "active");
    s.poweroff();
}

#[test]
fn b8gctl_verbs_and_json() {
    let mut s = System::new(&[
        ("web.service", "[Unit]\nDescription=web\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sh -c 'echo up; exec sleep 100'\nExecReload=/bin/echo reloading\n[Install]\nWantedBy=multi-user.target\n"),
        ("db.service", "[Service]\nExecStart=/bin/sleep 100\n"),
    ]);
    s.boot();
    s.wait_ready();
    let v: serde_json::Value = serde_json::from_str(&s.ctl_ok(&["--json", "list-units"])).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "web.service" && u["active"] == "active"));
    let deps: serde_json::Value =
        serde_json::from_str(&s.ctl_ok(&["--json", "list-dependencies", "web.service"])).unwrap();
    assert!(deps["deps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == "db.service"));
    assert!(s
        .ctl_ok(&["status", "web.service"])
        .contains("Active: active (running)"));
    s.ctl_ok(&["reload", "web.service"]);
    assert!(s.log("web.service").contains("reloading"));
    s.ctl_ok(&["restart", "web.service"]);
    s.wait_for(
        |s| s.log("web.service").matches(": up").count() == 2,
        "second start of web.service",
    );
    s.ctl_ok(&["stop", "db.service"]);
    assert_eq!(
        s.active("web.service"),
        "inactive",
        "stopping a requirement stops its dependents (b8gctl stop waits for them)\nconsole:\n{}",
        s.console()
    );
    s.ctl_ok(&["isolate", "basic.target"]);
    assert_eq!(s.active("multi-user.target"), "inactive");
    assert_eq!(
        s.ctl_ok(&["--json", "is-system-running"]).trim(),
        "\"running\""
    );
    s.poweroff();
    assert!(s.console().contains("shutting down (Poweroff)"));
}

#[test]
fn verify_reports_file_and_line() {
    let s = System::new(&[
        (
            "ok.service",
            "[Service]\nExecStart=/bin/true\nSystemCallFilter=@system-service\n",
        ),
        (
            "bad.service",
            "[Unit]\nAfter=x\nnot a line\n[Service]\nExecStart=/bin/true\nRestart=sometimes\n",
        ),
    ]);
    s.write("etc/inittab", "id:3:initdefault:\nbroken\n");
    let dir = s.path("etc/systemd/system");
    let ok = std::process::Command::new(CTL)
        .arg("verify")
        .arg(dir.join("ok.service"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stderr)
        .contains("SystemCallFilter= is parsed but not enforced"));
    let bad = std::process::Command::new(CTL)
        .arg("verify")
        .arg(dir.join("bad.service"))
        .arg(s.path("etc/inittab"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("bad.service:3: error: expected Key=Value"),
        "{err}"
    );
    assert!(
        err.contains("bad.service:6: error: Restart=: unknown restart policy"),
        "{err}"
    );
    assert!(err.contains("inittab:2: error"), "{err}");
}

#[test]
fn exec_context_settings() {
    let mut s = System::new(&[
        ("ctx.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nEnvironment=GREETING=hello \"SPACED=a b\"\nEnvironmentFile=@ROOT@/etc/ctx.env\nEnvironmentFile=-@ROOT@/etc/missing.env\nWorkingDirectory=@ROOT@/etc\nUMask=0077\nLimitNOFILE=123\nNice=5\nRuntimeDirectory=ctx\nStateDirectory=ctx\nStandardOutput=file:@ROOT@/ctx.out\nExecStartPre=/bin/sh -c 'echo pre > @ROOT@/pre.out'\nExecStart=/bin/sh -c 'echo $GREETING ${SPACED} $$FROMFILE $$(pwd) $$(umask) $$(ulimit -n) $$(cut -d\" \" -f19 /proc/self/stat); test -d $$RUNTIME_DIRECTORY && echo rt-ok'\nExecStartPost=-/bin/false\n[Install]\nWantedBy=multi-user.target\n"),
        ("tpl@.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo instance %i of %p in %t\n"),
        ("cond.service", "[Unit]\nConditionPathExists=!@ROOT@/etc\n[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n"),
        ("assert.service", "[Unit]\nAssertFileNotEmpty=@ROOT@/etc/empty\n[Service]\nExecStart=/bin/sleep 100\n"),
        // Triggering conditions: one of them is enough (systemd-logind.service has these).
        ("trig.service", "[Unit]\nConditionPathExists=|@ROOT@/nothere\nConditionPathExists=|@ROOT@/etc\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
        ("notrig.service", "[Unit]\nConditionPathExists=|@ROOT@/nothere\nConditionPathIsSymbolicLink=|@ROOT@/etc\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.write("etc/ctx.env", "FROMFILE=filevalue\n");
    s.write("etc/empty", "");
    s.boot();
    s.wait_ready();
    assert_eq!(
        s.active("ctx.service"),
        "active",
        "{}",
        s.log("ctx.service")
    );
    let out = std::fs::read_to_string(s.path("ctx.out")).unwrap();
    let etc = s.path("etc").display().to_string();
    assert_eq!(
        out,
        format!("hello a b filevalue {etc} 0077 123 5\nrt-ok\n")
    );
    assert!(s.path("pre.out").exists());
    assert!(s.path("var/lib/ctx").is_dir() && s.path("run/ctx").is_dir());
    s.ctl_ok(&["start", "tpl@foo.service"]);
    let root = s.path("run").display().to_string();
    assert!(
        s.log("tpl@foo.service")
            .contains(&format!("instance foo of tpl in {root}")),
        "{}",
        s.log("tpl@foo.service")
    );
    assert_eq!(s.active("cond.service"), "inactive");
    assert!(s.log("cond.service").contains("skipped"));
    assert_eq!(
        s.active("trig.service"),
        "active",
        "{}",
        s.log("trig.service")
    );
    assert_eq!(s.active("notrig.service"), "inactive");
    assert!(s.log("notrig.service").contains("skipped"));
    assert!(!s.ctl(&["start", "assert.service"]).status.success());
    assert_eq!(s.active("assert.service"), "failed");
    s.ctl_ok(&["stop", "ctx.service"]);
    assert!(
        !s.path("run/ctx").exists(),
        "RuntimeDirectory= is removed on stop"
    );
    s.poweroff();
}

#[test]
fn watchdog_bindsto_conflicts_and_log_follow() {
    let mut s = System::new(&[
        ("wd.service", "[Service]\nType=notify\nWatchdogSec=300ms\nExecStart=/bin/sh -c '@CTL@ notify --barrier READY=1; exec sleep 100'\n"),
        ("base.service", "[Service]\nExecStart=/bin/sleep 100\n"),
        ("bound.service", "[Unit]\nBindsTo=base.service\nAfter=base.service\n[Service]\nExecStart=/bin/sleep 100\n"),
        ("part.service", "[Unit]\nPartOf=base.service\n[Service]\nExecStart=/bin/sh -c 'echo part-start; exec sleep 100'\n"),
        ("x.service", "[Unit]\nConflicts=y.service\n[Service]\nExecStart=/bin/sleep 100\n"),
        ("y.service", "[Service]\nExecStart=/bin/sleep 100\n"),
        ("chatty.service", "[Service]\nSyslogIdentifier=chat\nExecStart=/bin/sh -c 'i=0; while :; do echo line$$i; i=$$((i+1)); sleep 0.05; done'\n"),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "wd.service"]);
    s.wait_for(
        |s| s.status("wd.service")["result"] == "watchdog",
        "watchdog timeout",
    );
    s.ctl_ok(&["start", "bound.service", "part.service"]);
    assert_eq!(s.active("base.service"), "active");
    s.ctl_ok(&["restart", "base.service"]);
    s.wait_for(
        |s| s.log("part.service").matches(": part-start").count() == 2,
        "PartOf= restarts with its unit",
    );
    s.ctl_ok(&["stop", "base.service"]);
    s.wait_state("bound.service", "inactive");
    s.ctl_ok(&["start", "y.service"]);
    s.ctl_ok(&["start", "x.service"]);
    assert_eq!(
        s.active("y.service"),
        "inactive",
        "Conflicts= stops the other unit (b8gctl start waits for that stop)\nconsole:\n{}",
        s.console()
    );
    s.ctl_ok(&["start", "chatty.service"]);
    let mut f = std::process::Command::new(CTL)
        .arg("--socket")
        .arg(s.path("run/b8g/control"))
        .args(["log", "chatty.service", "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read the follower's output until ten lines arrived (or a generous deadline passes):
    // a fixed sleep would count lines, which depends on the machine's load.
    let stdout = f.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut text = String::new();
    while text.matches(": line").count() < 10 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = f.kill();
    let _ = f.wait();
    assert!(
        text.matches(": line").count() >= 10,
        "log -f follows: {text}"
    );
    assert!(
        text.contains("chatty.service: chat: line"),
        "SyslogIdentifier= tags lines: {text}"
    );
    assert!(s.path("var/log/b8g/chatty.service.log").exists());
    s.poweroff();
}

#[test]
fn accept_yes_and_telinit() {
    let mut s = System::new(&[
        ("greet.socket", "[Socket]\nListenStream=@ROOT@/run/greet.sock\nAccept=yes\n[Install]\nWantedBy=sockets.target\n"),
        ("greet@.service", "[Service]\nStandardInput=socket\nStandardOutput=socket\nExecStart=/bin/sh -c 'echo \"hello $$LISTEN_FDS\"; echo via-fd3 >&3'\n"),
    ]);
    s.write(
        "etc/inittab",
        "id:3:initdefault:\nr5:5:respawn:/bin/sh -c 'echo in-five; exec sleep 100'\n",
    );
    s.boot();
    s.wait_ready();
    for _ in 0..3 {
        let mut c =
            std::os::unix::net::UnixStream::connect(s.path("run/greet.sock")).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut c, &mut buf).expect("read");
        assert_eq!(buf, "hello 1\nvia-fd3\n");
    }
    assert_eq!(s.active("runlevel3.target"), "active");
    s.ctl_ok(&["telinit", "5"]);
    s.wait_for(
        |s| s.log("inittab-r5.service").contains("in-five"),
        "runlevel 5 entry",
    );
    s.wait_state("runlevel3.target", "inactive");
    s.poweroff();
}

#[test]
fn shutdown_order_and_blocking_processes() {
    let mut s = System::new(&[
        ("lower.service", "[Service]\nExecStart=/bin/sleep 100\nExecStop=/bin/sh -c 'echo lower-stop'\n[Install]\nWantedBy=multi-user.target\n"),
        ("upper.service", "[Unit]\nRequires=lower.service\nAfter=lower.service\n[Service]\nExecStart=/bin/sleep 100\nExecStop=/bin/sh -c 'sleep 0.2; echo upper-stop'\n[Install]\nWantedBy=multi-user.target\n"),
        ("leaky.service", "[Service]\nKillMode=none\nExecStart=/bin/sh -c 'trap \"\" TERM; exec sleep 100'\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    s.poweroff();
    let read = |u: &str| {
        std::fs::read_to_string(s.path(&format!("var/log/b8g/{u}.log"))).unwrap_or_default()
    };
    let up = ms_of(&read("upper.service"), ": upper-stop");
    let low = ms_of(&read("lower.service"), ": lower-stop");
    assert!(
        low >= up,
        "stopped in reverse order: upper {up} lower {low}"
    );
    let c = s.console();
    assert!(
        c.contains("processes blocking shutdown, sending SIGKILL") && c.contains("(sleep)"),
        "{c}"
    );
    assert!(c.contains("reached final stage"), "{c}");
}

#[test]
fn privileges_and_mount_units() {
    let root = tempfile::tempdir().expect("tempdir");
    let where_ = root.path().join("mnt/data");
    let mount_name = b8g_init::unit::name::mount_unit_name(&where_);
    let mount_text = format!("[Mount]\nWhat=tmpfs\nWhere={}\nType=tmpfs\nOptions=size=1m,mode=0700\n[Install]\nWantedBy=local-fs.target\n", where_.display());
    let mut s = System::new(&[
        ("caps.service", "[Service]\nType=oneshot\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\nOOMScoreAdjust=500\nExecStart=/bin/sh -c 'grep -E \"^(CapBnd|NoNewPrivs)\" /proc/self/status; echo oom=$$(cat /proc/self/oom_score_adj)'\nExecStart=+/bin/sh -c 'grep ^CapBnd /proc/self/status | sed s/CapBnd/Full/'\n"),
        (&mount_name, &mount_text),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "caps.service"]);
    let log = s.log("caps.service");
    assert!(log.contains("CapBnd:\t0000000000000400"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    assert!(log.contains("oom=500"), "{log}");
    assert!(
        !log.contains("Full:\t0000000000000400"),
        "+ runs with full privileges: {log}"
    );
    assert_eq!(s.active(&mount_name), "active", "{}", s.log(&mount_name));
    s.write("units/probe.service", &format!("[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'grep -c \" {} tmpfs\" /proc/self/mounts || true'\n", where_.display()));
    s.ctl_ok(&["daemon-reload"]);
    s.ctl_ok(&["start", "probe.service"]);
    assert!(
        s.log("probe.service").contains("probe.service: 1"),
        "{}",
        s.log("probe.service")
    );
    s.ctl_ok(&["stop", &mount_name]);
    s.ctl_ok(&["start", "probe.service"]);
    assert!(
        s.log("probe.service").contains("probe.service: 0"),
        "{}",
        s.log("probe.service")
    );
    s.poweroff();
}

#[test]
fn start_timeout_calendar_timer_and_systemctl_name() {
    let mut s = System::new(&[
        (
            "silent.service",
            "[Service]\nType=notify\nTimeoutStartSec=300ms\nExecStart=/bin/sleep 100\n",
        ),
        (
            "cal.timer",
            "[Timer]\nOnCalendar=*:*:*\n[Install]\nWantedBy=timers.target\n",
        ),
        (
            "cal.service",
            "[Service]\nType=oneshot\nExecStart=/bin/echo cal\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    assert!(
        !s.ctl(&["start", "silent.service"]).status.success(),
        "no READY=1 within TimeoutStartSec= fails the start"
    );
    assert_eq!(s.status("silent.service")["result"], "timeout");
    s.wait_for(
        |s| s.log("cal.service").matches(": cal").count() >= 2,
        "two calendar firings (every second)",
    );
    let alias = s.path("systemctl");
    std::os::unix::fs::symlink(CTL, &alias).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&alias)
            .arg("--socket")
            .arg(s.path("run/b8g/control"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        !run(&["frobnicate"]).status.success(),
        "unknown verbs are refused"
    );
    assert_eq!(
        String::from_utf8_lossy(&run(&["is-system-running"]).stdout).trim(),
        "degraded",
        "silent.service failed"
    );
    assert!(run(&["reset-failed"]).status.success());
    assert_eq!(
        String::from_utf8_lossy(&run(&["is-system-running"]).stdout).trim(),
        "running",
        "b8gctl answers to the name systemctl"
    );
    s.poweroff();
}

#[test]
fn inittab_signal_and_shutdown_actions() {
    let mut s = System::new(&[]);
    s.write(
        "etc/inittab",
        "id:3:initdefault:\npf::powerfail:/bin/sh -c 'echo $$ > @ROOT@/powerfail'\nca::ctrlaltdel:/bin/sh -c 'echo x > @ROOT@/cad'\nsd::shutdown:/bin/sh -c 'echo bye > @ROOT@/shutdown'\n",
    );
    s.boot();
    s.wait_ready();
    s.signal(libc::SIGPWR);
    s.wait_for(|s| s.path("powerfail").exists(), "powerfail action");
    assert!(
        std::fs::read_to_string(s.path("powerfail"))
            .unwrap()
            .trim()
            .parse::<u32>()
            .is_ok(),
        "inittab commands are shell, not expanded by b8g-init"
    );
    s.signal(libc::SIGINT);
    s.wait_for(|s| s.path("cad").exists(), "ctrlaltdel action");
    s.poweroff();
    assert_eq!(
        std::fs::read_to_string(s.path("shutdown")).unwrap_or_default(),
        "bye\n",
        "shutdown action runs at poweroff"
    );
}

/// Regression (issue 21): busybox's `poweroff`, `reboot` and `halt` signal PID 1 with
/// SIGUSR2, SIGTERM and SIGUSR1 (init/halt.c); b8g-init ignored SIGUSR1/2 and powered
/// off on SIGTERM. systemd's SIGRTMIN+4/+5/+3 mean the same.
#[test]
fn busybox_and_systemd_shutdown_signals() {
    let rt = libc::SIGRTMIN();
    for (sig, kind) in [
        (libc::SIGUSR2, "Poweroff"),
        (libc::SIGTERM, "Reboot"),
        (libc::SIGUSR1, "Halt"),
        (rt + 4, "Poweroff"),
        (rt + 5, "Reboot"),
        (rt + 3, "Halt"),
    ] {
        let mut s = System::new(&[]);
        s.boot();
        s.wait_ready();
        s.signal(sig);
        s.wait_ended();
        assert!(
            s.console().contains(&format!("shutting down ({kind})")),
            "signal {sig} should shut down with {kind}; console:\n{}",
            s.console()
        );
    }
}

/// A new pseudo-terminal; returns the master (kept open by the test) and the slave's path.
fn open_pty() -> (std::os::fd::OwnedFd, String) {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the fd just opened, with a
    // buffer of the size passed.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = std::os::fd::OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .into_owned();
        (master, name)
    }
}

/// Regression (issue 21): the autologin shell (StandardInput=tty) had no controlling
/// terminal ("can't access tty; job control turned off", ^C did not reach `sleep`).
/// As with systemd, the service leads its own session with the tty as its terminal.
#[test]
fn standard_input_tty_gets_the_tty_as_controlling_terminal() {
    let (_master, pts) = open_pty();
    let mut s = System::new(&[(
        "shell.service",
        &format!(
            "[Service]\nType=oneshot\nStandardInput=tty\nStandardOutput=journal\nTTYPath={pts}\n\
             ExecStart=/bin/sh -c 'read -r pid comm st ppid pgrp sid tty rest < /proc/$$$$/stat; \
             if (: </dev/tty) 2>/dev/null; then t=ctty; else t=none; fi; \
             echo \"$$pid $$sid $$tty $$t\" > @ROOT@/ctty'\n\
             [Install]\nWantedBy=multi-user.target\n"
        ),
    )]);
    s.boot();
    s.wait_ready();
    s.wait_for(|s| s.path("ctty").exists(), "shell.service ran");
    let line = std::fs::read_to_string(s.path("ctty")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{line:?}");
    assert_eq!(f[0], f[1], "the service leads its session: {line:?}");
    assert_ne!(
        f[2], "0",
        "the session has a controlling terminal: {line:?}"
    );
    assert_eq!(f[3], "ctty", "/dev/tty opens: {line:?}");
    s.poweroff();
}

#[test]
fn absurd_time_spans_do_not_crash_pid1() {
    let mut s = System::new(&[
        ("huge.service", "[Unit]\nStartLimitIntervalSec=99999999999w\n[Service]\nTimeoutStartSec=99999999999w\nTimeoutStopSec=99999999999w\nRestartSec=99999999999w\nRestartMaxDelaySec=99999999999w\nWatchdogSec=99999999999w\nRestart=always\nExecStart=/bin/sh -c 'exit 1'\n[Install]\nWantedBy=multi-user.target\n"),
        ("overflow.service", "[Service]\nTimeoutSec=555555555555555555555555555555555555\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    assert!(
        s.console()
            .contains("overflow.service:2: error: TimeoutSec=: time span"),
        "{}",
        s.console()
    );
    s.wait_for(
        |s| s.log("huge.service").contains("scheduling restart #1"),
        "a restart that is never due",
    );
    // PID 1 still answers; the failing service makes the system degraded.
    assert_eq!(
        String::from_utf8_lossy(&s.ctl(&["is-system-running"]).stdout).trim(),
        "degraded"
    );
    s.poweroff();
}

#[test]
fn generation_layout_activate_and_boot_marker() {
    let mut s = System::new(&[]);
    s.write("sys/units/gen.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'cat @ROOT@/activated'\n[Install]\nWantedBy=multi-user.target\n");
    s.write(
        "sys/activate",
        "#!/bin/sh\necho \"activated $B8G_SYSTEM\" > @ROOT@/activated\n",
    );
    std::fs::set_permissions(
        s.path("sys/activate"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sys = s.path("sys").display().to_string();
    s.boot_with(&["--system", &sys]);
    s.wait_ready();
    assert!(
        s.log("gen.service").contains(&format!("activated {sys}")),
        "activate ran before units: {}",
        s.log("gen.service")
    );
    let good = std::fs::read_to_string(s.path("var/lib/b8g/boot-good")).unwrap();
    assert!(
        good.starts_with(&format!("system={sys}\nready_ms=")),
        "{good}"
    );
    s.poweroff();
}

#[test]
fn required_oneshot_that_finished_satisfies_dependents() {
    // Like modprobe@.service before sys-kernel-config.mount: the required oneshot runs to
    // its end (its failure ignored by `-`) and is inactive again when the dependent starts.
    let mut s = System::new(&[
        ("load.service", "[Service]\nType=oneshot\nExecStart=-/bin/sh -c 'echo loading; exit 1'\n"),
        ("user.service", "[Unit]\nRequires=load.service\nAfter=load.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo used\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    assert!(s.log("load.service").contains("loading"));
    assert_eq!(s.active("load.service"), "inactive");
    assert_eq!(
        s.active("user.service"),
        "active",
        "{}",
        s.log("user.service")
    );
    s.poweroff();
}

#[test]
fn path_units_watch_existence_changes_and_directories() {
    let mut s = System::new(&[
        (
            "flag.path",
            "[Path]\nPathExists=@ROOT@/watch/flag\n[Install]\nWantedBy=paths.target\n",
        ),
        (
            "flag.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo flag seen; rm @ROOT@/watch/flag'\n",
        ),
        (
            "conf.path",
            "[Path]\nPathChanged=@ROOT@/watch/conf\nUnit=reload-conf.service\n[Install]\nWantedBy=paths.target\n",
        ),
        (
            "reload-conf.service",
            "[Service]\nType=oneshot\nExecStart=/bin/cat @ROOT@/watch/conf\n",
        ),
        (
            "spool.path",
            "[Path]\nDirectoryNotEmpty=@ROOT@/spool\nMakeDirectory=yes\nDirectoryMode=0700\n[Install]\nWantedBy=paths.target\n",
        ),
        (
            "spool.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'for f in @ROOT@/spool/*; do echo took $${f##*/}; rm $$f; done'\n",
        ),
        // Its service never empties the directory: the level stays true and the
        // trigger limit must stop the loop.
        (
            "busy.path",
            "[Path]\nPathExistsGlob=@ROOT@/busy/*.job\nTriggerLimitBurst=3\nTriggerLimitIntervalSec=60s\n[Install]\nWantedBy=paths.target\n",
        ),
        (
            "busy.service",
            "[Unit]\nStartLimitBurst=100\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    assert_eq!(s.active("flag.path"), "active");
    assert_eq!(s.status("flag.path")["sub"], "waiting", "{}", s.console());
    // MakeDirectory= made the watched directory, with its mode.
    let spool = std::fs::metadata(s.path("spool")).expect("spool made");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&spool.permissions()) & 0o7777,
        0o700
    );

    // PathExists=: the directory comes later; the level triggers again after the
    // service has gone inactive.
    s.write("watch/flag", "1");
    s.wait_for(
        |s| s.log("flag.service").matches("flag seen").count() >= 1,
        "flag.service after the flag appeared",
    );
    s.wait_for(|s| !s.path("watch/flag").exists(), "the flag removed");
    s.wait_state("flag.service", "inactive");
    s.write("watch/flag", "2");
    s.wait_for(
        |s| s.log("flag.service").matches("flag seen").count() >= 2,
        "flag.service a second time",
    );

    // PathChanged=: each close after writing starts the unit named by Unit=.
    s.write("watch/conf", "version-one\n");
    s.wait_for(
        |s| s.log("reload-conf.service").contains("version-one"),
        "reload-conf after the first write",
    );
    s.wait_state("reload-conf.service", "inactive");
    s.write("watch/conf", "version-two\n");
    s.wait_for(
        |s| s.log("reload-conf.service").contains("version-two"),
        "reload-conf after the second write",
    );
    assert!(
        s.log("conf.path").contains("PathChanged="),
        "{}",
        s.log("conf.path")
    );

    // DirectoryNotEmpty=
    std::fs::write(s.path("spool/a"), "").expect("write spool/a");
    s.wait_for(
        |s| s.log("spool.service").contains("took a"),
        "spool.service to take a",
    );

    // A level that never clears hits the trigger limit and fails the path unit.
    s.write("busy/x.job", "");
    s.wait_state("busy.path", "failed");
    assert_eq!(s.status("busy.path")["result"], "trigger-limit-hit");
    assert_eq!(
        s.log("busy.path").matches("starting busy.service").count(),
        3,
        "{}",
        s.log("busy.path")
    );

    // A stopped path unit watches nothing.
    s.ctl_ok(&["stop", "flag.path"]);
    assert_eq!(s.active("flag.path"), "inactive");
    let seen = s.log("flag.service").matches("flag seen").count();
    s.wait_for(
        |s| !s.path("watch/flag").exists(),
        "the second flag removed",
    );
    s.write("watch/flag", "3");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(s.log("flag.service").matches("flag seen").count(), seen);
    assert!(s.path("watch/flag").exists());
    s.poweroff();
}

#[test]
fn boot_check_marks_good_only_when_health_check_units_are_active() {
    let mut s = System::new(&[
        (
            "web.service",
            "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n",
        ),
        (
            "broken.service",
            "[Service]\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n",
        ),
    ]);
    let entry = "boot/entries/system-1.conf";
    s.write(
        entry,
        "generation=1\ntoplevel=/x\ntries=2\ngood=0\nreason=\n",
    );
    s.write("boot/last-boot", "generation=1\n");
    s.boot();
    s.wait_ready();
    s.wait_state("broken.service", "failed");
    let boot_dir = s.path("boot").display().to_string();
    let console = s.path("boot-check.log").display().to_string();
    let check = |unit: &str| {
        s.ctl(&[
            "boot-check",
            "--boot-dir",
            &boot_dir,
            "--console",
            &console,
            "--no-reboot",
            "--timeout",
            "30",
            "--unit",
            unit,
        ])
    };
    let read = || std::fs::read_to_string(s.path(entry)).expect("entry");

    let o = check("broken.service");
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = read();
    assert!(e.contains("good=0"), "{e}");
    assert!(
        e.contains("reason=health check unit broken.service failed"),
        "{e}"
    );

    let o = check("web.service");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let e = read();
    assert!(e.contains("good=1") && e.contains("reason=\n"), "{e}");
    s.poweroff();
}

/// systemd.unit(5): with no StartLimit settings a unit gets
/// DefaultStartLimitIntervalSec=10s and DefaultStartLimitBurst=5, so a service
/// with Restart=always that keeps failing is started five times and then left failed.
#[test]
fn restart_always_stops_at_the_default_start_limit() {
    let mut s = System::new(&[(
        "flap.service",
        "[Service]\nExecStart=/bin/sh -c 'echo run; exit 1'\nRestart=always\nRestartSec=100ms\n[Install]\nWantedBy=multi-user.target\n",
    )]);
    s.boot();
    s.wait_state("flap.service", "failed");
    let st = s.status("flap.service");
    assert!(
        st["result"]
            .as_str()
            .unwrap_or("")
            .contains("start-limit-hit"),
        "{st}"
    );
    assert_eq!(s.log("flap.service").matches(": run").count(), 5);
    // And it stays failed: no sixth run after the limit.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(s.log("flap.service").matches(": run").count(), 5);
    assert_eq!(s.active("flap.service"), "failed");
    s.poweroff();
}

/// A mount that local-fs.target requires (fileSystems makes them so, as
/// systemd-fstab-generator does) and that fails makes local-fs.target fail, and
/// the boot is not reported ready (nor marked good).
#[test]
fn a_failed_required_mount_fails_local_fs_and_the_boot_is_not_ready() {
    let root = tempfile::tempdir().expect("tempdir");
    let where_ = root.path().join("mnt/data");
    let mount_name = b8g_init::unit::name::mount_unit_name(&where_);
    let mount_text = format!(
        "[Mount]\nWhat=/dev/b8g-no-such-device\nWhere={}\nType=ext4\n[Install]\nRequiredBy=local-fs.target\n",
        where_.display()
    );
    let mut s = System::new(&[
        (&mount_name, &mount_text),
        ("after.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo up\n[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    // The mount is bound to its device, which does not exist: the device's job fails
    // and the mount never runs (as in systemd, where the device job times out).
    s.wait_state("dev-b8g\\x2dno\\x2dsuch\\x2ddevice.device", "failed");
    assert_ne!(s.active(&mount_name), "active");
    s.wait_for(
        |s| s.console().contains("not marking the boot good"),
        "the boot refused",
    );
    assert!(
        !s.console().contains("b8g: system ready in"),
        "{}",
        s.console()
    );
    assert!(!s.path("var/lib/b8g/boot-good").exists());
    assert_ne!(s.active("local-fs.target"), "active");
    let running = s.ctl(&["is-system-running"]);
    assert_eq!(String::from_utf8_lossy(&running.stdout).trim(), "degraded");
    // The rest of the system still starts (a console login stays possible).
    s.wait_state("after.service", "active");
    s.poweroff();
}
