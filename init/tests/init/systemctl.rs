//! Issue 16: `b8gctl` answering as `systemctl` for what Debian's maintainer scripts and
//! administrators run, with systemctl's output shapes and exit codes.

use crate::harness::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_systemd_system_exists_while_b8g_init_runs() {
    // Debian's invoke-rc.d, deb-systemd-invoke and init-functions test this directory
    // to decide that systemd is PID 1 (sd_booted(3)).
    let mut s = System::new(&[(
        "probe.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'test -d @ROOT@/run/systemd/system && echo booted'\n[Install]\nWantedBy=multi-user.target\n",
    )]);
    s.boot();
    s.wait_ready();
    assert!(s.path("run/systemd/system").is_dir());
    assert_eq!(s.active("probe.service"), "active");
    assert!(s.log("probe.service").contains("booted"));
    s.poweroff();
}

#[test]
fn masked_unit_refuses_to_start_with_systemds_message() {
    let mut s = System::new(&[]);
    s.write("units/m.service", "[Service]\nExecStart=/bin/sleep 100\n");
    std::os::unix::fs::symlink("/dev/null", s.path("etc/systemd/system/m.service")).expect("mask");
    s.boot();
    s.wait_ready();
    let o = s.systemctl(&["start", "m.service"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr).trim(),
        "Failed to start m.service: Unit m.service is masked."
    );
    assert_eq!(s.active("m.service"), "inactive");
    s.poweroff();
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn systemctl_is_active_is_failed_show_status_exit_codes() {
    let mut s = System::new(&[
        (
            "run.service",
            "[Unit]\nDescription=Runner\n[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n",
        ),
        ("fail.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n"),
    ]);
    std::os::unix::fs::symlink("/dev/null", s.path("etc/systemd/system/gone.service"))
        .expect("mask");
    s.boot();
    s.wait_ready();
    let o = s.systemctl(&["is-active", "run.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (0, "active\n"));
    // Mangled name, --quiet: no output.
    let o = s.systemctl(&["--quiet", "is-active", "run"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (0, ""));
    let o = s.systemctl(&["is-active", "nothere.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (3, "inactive\n"));
    assert_eq!(code(&s.systemctl(&["start", "fail.service"])), 1);
    let o = s.systemctl(&["is-failed", "fail.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (0, "failed\n"));
    let o = s.systemctl(&["is-failed", "run.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (1, "active\n"));
    let o = s.systemctl(&["show", "-p", "ActiveState", "--value", "run.service"]);
    assert_eq!(text(&o.stdout), "active\n");
    let o = s.systemctl(&["show", "--property=MainPID", "--value", "run"]);
    let pid: i32 = text(&o.stdout).trim().parse().expect("a pid");
    assert!(pid > 1, "{pid}");
    let o = s.systemctl(&["show", "run.service", "-p", "SubState,LoadState", "-pId"]);
    assert_eq!(
        text(&o.stdout),
        "Id=run.service\nLoadState=loaded\nSubState=running\n"
    );
    // What Debian's init-functions asks before running an init script.
    let o = s.systemctl(&["-p", "LoadState", "--value", "show", "gone.service"]);
    assert_eq!(text(&o.stdout), "masked\n");
    let o = s.systemctl(&["show", "-p", "LoadState", "--value", "nothere.service"]);
    assert_eq!(text(&o.stdout), "not-found\n");
    let o = s.systemctl(&["show", "-p", "SystemState", "--value"]);
    assert_eq!(text(&o.stdout), "degraded\n");
    // LSB exit codes of status: 0 running, 3 not running, 4 no such unit.
    assert_eq!(code(&s.systemctl(&["status", "run.service"])), 0);
    assert_eq!(code(&s.systemctl(&["status", "fail.service"])), 3);
    let o = s.systemctl(&["status", "nothere.service"]);
    assert_eq!(code(&o), 4);
    assert!(text(&o.stderr).contains("Unit nothere.service could not be found."));
    // invoke-rc.d's option is accepted, named as unsupported unless it is the default.
    let o = s.systemctl(&["--job-mode=ignore-dependencies", "restart", "run.service"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--job-mode=ignore-dependencies is not supported"));
    assert_eq!(s.active("run.service"), "active");
    let o = s.systemctl(&["daemon-reexec"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("daemon-reexec is not supported"));
    s.poweroff();
}

#[test]
fn systemctl_enable_disable_mask_set_default_cat_online() {
    // The unit file in a vendor-like directory (the second unit directory), so that
    // /etc/systemd/system can mask it.
    let mut s = System::new(&[]);
    s.write(
        "units/web.service",
        "[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\nAlias=www.service\n",
    );
    let units = s.path("units");
    s.write(
        "etc/systemd/system/web.service.d/10-env.conf",
        "[Service]\nEnvironment=A=1\n",
    );
    s.write(
        "etc/systemd/system/rescue.target",
        "[Unit]\nDescription=Rescue\n",
    );
    let etc = s.path("etc/systemd/system");
    s.boot_with(&["--links-only"]);
    s.wait_ready();
    let o = s.systemctl(&["is-enabled", "web.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (1, "disabled\n"));
    assert_eq!(code(&s.systemctl(&["is-active", "web.service"])), 3);
    let o = s.systemctl(&["enable", "--now", "web"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!(
            "Created symlink {} \u{2192} {}.",
            etc.join("multi-user.target.wants/web.service").display(),
            units.join("web.service").display()
        )),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(s.active("web.service"), "active");
    assert_eq!(
        text(&s.systemctl(&["is-enabled", "web.service"]).stdout),
        "enabled\n"
    );
    assert_eq!(
        text(&s.systemctl(&["is-enabled", "www.service"]).stdout),
        "alias\n"
    );
    let o = s.systemctl(&["show", "-p", "UnitFileState", "--value", "web.service"]);
    assert_eq!(text(&o.stdout), "enabled\n");
    // The daemon-reload after enable made the alias known to b8g-init.
    assert_eq!(
        text(&s.systemctl(&["is-active", "www.service"]).stdout),
        "active\n"
    );
    let o = s.systemctl(&["disable", "--now", "web.service"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o.stderr).contains(&format!(
        "Removed \"{}\".",
        etc.join("multi-user.target.wants/web.service").display()
    )));
    assert_eq!(s.active("web.service"), "inactive");
    let o = s.systemctl(&["-q", "mask", "web.service"]);
    assert_eq!((code(&o), text(&o.stderr).as_str()), (0, ""));
    let o = s.systemctl(&["is-enabled", "web.service"]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (1, "masked\n"));
    let o = s.systemctl(&["start", "web.service"]);
    assert_eq!(
        text(&o.stderr).trim(),
        "Failed to start web.service: Unit web.service is masked."
    );
    let o = s.systemctl(&["enable", "web.service"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        text(&o.stderr).trim(),
        "Failed to enable unit: Unit file web.service is masked."
    );
    assert_eq!(code(&s.systemctl(&["unmask", "web.service"])), 0);
    // A unit file of its own in /etc is not replaced by a mask, as in systemd.
    let o = s.systemctl(&["mask", "rescue.target"]);
    assert_eq!(
        (code(&o), text(&o.stderr)),
        (
            1,
            format!(
                "Failed to mask unit: File {} already exists.\n",
                etc.join("rescue.target").display()
            )
        )
    );
    assert_eq!(code(&s.systemctl(&["start", "web.service"])), 0);
    let o = s.systemctl(&["cat", "web.service"]);
    assert_eq!(
        text(&o.stdout),
        format!(
            "# {}\n[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\nAlias=www.service\n\n# {}\n[Service]\nEnvironment=A=1\n",
            units.join("web.service").display(),
            etc.join("web.service.d/10-env.conf").display()
        )
    );
    assert_eq!(
        text(&s.systemctl(&["get-default"]).stdout),
        "multi-user.target\n"
    );
    let o = s.systemctl(&["set-default", "rescue"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        text(&s.systemctl(&["get-default"]).stdout),
        "rescue.target\n"
    );
    assert_eq!(
        std::fs::read_link(etc.join("default.target")).expect("link"),
        etc.join("rescue.target")
    );
    s.poweroff();
}

#[test]
fn systemctl_root_edits_an_offline_tree() {
    // deb-systemd-helper-like flows: no b8g-init runs; links are written as seen from
    // inside the root.
    let t = tempfile::tempdir().expect("tempdir");
    let lib = t.path().join("lib/systemd/system");
    std::fs::create_dir_all(&lib).expect("mkdir");
    std::fs::write(
        lib.join("foo.service"),
        "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    )
    .expect("write");
    let link = t.path().join("bin-systemctl");
    std::os::unix::fs::symlink(CTL, &link).expect("symlink");
    let run = |args: &[&str]| {
        std::process::Command::new(&link)
            .env("B8G_CONTROL_SOCKET", t.path().join("no-such-socket"))
            .arg(format!("--root={}", t.path().display()))
            .args(args)
            .output()
            .expect("run systemctl")
    };
    let o = run(&["enable", "foo.service"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let wants = t
        .path()
        .join("etc/systemd/system/multi-user.target.wants/foo.service");
    assert_eq!(
        std::fs::read_link(&wants).expect("link"),
        std::path::Path::new("/lib/systemd/system/foo.service")
    );
    assert_eq!(text(&run(&["is-enabled", "foo"]).stdout), "enabled\n");
    assert_eq!(code(&run(&["mask", "bar.service"])), 0);
    assert_eq!(
        std::fs::read_link(t.path().join("etc/systemd/system/bar.service")).expect("mask"),
        std::path::Path::new("/dev/null")
    );
    let o = run(&["--no-legend", "list-unit-files"]);
    assert_eq!(
        text(&o.stdout),
        "bar.service masked          -\nfoo.service enabled         enabled\n"
    );
    assert_eq!(code(&run(&["disable", "foo.service"])), 0);
    assert!(std::fs::symlink_metadata(&wants).is_err());
    assert_eq!(
        text(&run(&["is-enabled", "foo.service"]).stdout),
        "disabled\n"
    );
}

#[test]
fn systemctl_kill_and_list_timers() {
    let mut s = System::new(&[
        (
            "sig.service",
            "[Service]\nExecStart=/bin/sh -c 'trap \"echo got usr1\" USR1; while :; do sleep 0.05; done'\n",
        ),
        (
            "later.timer",
            "[Timer]\nOnActiveSec=1h\n[Install]\nWantedBy=timers.target\n",
        ),
        ("later.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n"),
    ]);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "sig.service"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = s.systemctl(&["kill", "-s", "USR1", "--kill-whom=main", "sig.service"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    s.wait_for(
        |s| s.log("sig.service").contains("got usr1"),
        "USR1 to reach the main process",
    );
    assert_eq!(s.active("sig.service"), "active");
    let o = s.systemctl(&["kill", "--signal=KILL", "sig"]);
    assert_eq!(code(&o), 0);
    s.wait_for(
        |s| s.active("sig.service") != "active",
        "SIGKILL to end the unit",
    );
    let o = s.systemctl(&["kill", "-s", "HUP", "--kill-whom=main", "sig.service"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("No main process to kill"));
    let o = s.systemctl(&["list-timers"]);
    let out = text(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.contains("later.timer"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.ends_with("later.timer later.service"), "{row}");
    assert!(row.contains("min ") && row.contains(" left"), "{row}");
    assert!(out.starts_with("NEXT"), "{out}");
    assert!(out.ends_with("\n1 timers listed.\n"), "{out}");
    s.poweroff();
}

#[test]
fn list_units_filters_by_state_type_and_pattern_and_failed_lists_the_failed() {
    // Regression (issue 21): `list-units --state=failed` listed every unit and
    // `systemctl --failed` was an unknown command.
    let mut s = System::new(&[
        (
            "run.service",
            "[Service]\nExecStart=/bin/sleep 100\n[Install]\nWantedBy=multi-user.target\n",
        ),
        (
            "broken.service",
            "[Service]\nType=oneshot\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.wait_state("broken.service", "failed");
    let units = |o: std::process::Output| -> Vec<String> {
        text(&o.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(
        units(s.ctl(&["list-units", "--state=failed"])),
        ["broken.service"]
    );
    assert_eq!(units(s.systemctl(&["--failed"])), ["broken.service"]);
    let running = units(s.ctl(&["list-units", "--state", "running", "--type=service"]));
    assert!(running.contains(&"run.service".to_string()), "{running:?}");
    assert!(
        !running.contains(&"broken.service".to_string()),
        "{running:?}"
    );
    assert_eq!(units(s.ctl(&["list-units", "r*.service"])), ["run.service"]);
    s.poweroff();
}

#[test]
fn journalctl_reads_the_units_logs_with_its_everyday_options() {
    let mut s = System::new(&[
        (
            "a.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo a-one; echo a-two'\n[Install]\nWantedBy=multi-user.target\n",
        ),
        (
            "b.service",
            "[Unit]\nAfter=a.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo b-one\n[Install]\nWantedBy=multi-user.target\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    s.wait_for(|s| s.log("b.service").contains("b-one"), "b's line");
    let o = s.journalctl(&["-u", "a", "-o", "cat", "--no-pager"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let a: Vec<_> = text(&o.stdout).lines().map(str::to_string).collect();
    assert!(
        a.iter().any(|l| l == "a-one")
            && a.iter().any(|l| l == "a-two")
            && !a.iter().any(|l| l == "b-one"),
        "{a:?}"
    );
    // Without -u: every unit's lines in the order they were written.
    let all = text(&s.journalctl(&["-b", "-o", "cat"]).stdout);
    let (i, j) = (
        all.find("a-two").expect("a-two"),
        all.find("b-one").expect("b-one"),
    );
    assert!(i < j, "{all}");
    // -n: the last lines; the short format names the unit.
    let last = text(&s.journalctl(&["-u", "a.service", "-n", "1"]).stdout);
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(last.contains("a.service: "), "{last}");
    // What b8g-init cannot answer is refused, not ignored.
    let o = s.journalctl(&["--list-boots"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("--list-boots is not supported"),
        "{}",
        text(&o.stderr)
    );
    s.poweroff();
}

#[test]
fn restarting_a_timer_or_a_target_starts_it_again() {
    // Regression: `b8g system switch` restarts a changed timer, which stayed stopped
    // (only services started again after the stop half of a restart).
    let mut s = System::new(&[
        (
            "t.service",
            "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        ),
        (
            "t.timer",
            "[Timer]\nOnActiveSec=1h\n[Install]\nWantedBy=timers.target\n",
        ),
        ("grp.target", "[Install]\nWantedBy=multi-user.target\n"),
    ]);
    s.boot();
    s.wait_ready();
    for unit in ["t.timer", "grp.target"] {
        assert_eq!(s.active(unit), "active", "{unit} before");
        let o = s.systemctl(&["restart", unit]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(s.active(unit), "active", "{unit} after restart");
    }
    let o = s.systemctl(&["list-timers"]);
    assert!(text(&o.stdout).contains("t.timer"), "{}", text(&o.stdout));
    s.poweroff();
}

#[test]
fn a_unit_in_a_slice_starts_its_slices_first() {
    let mut s = System::new(&[
        (
            "probe.slice",
            "[Unit]\nDescription=outer\n[Slice]\nMemoryMax=256M\n",
        ),
        (
            "inslice.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nSlice=probe-inner.slice\nExecStart=/bin/true\n\
             [Install]\nWantedBy=multi-user.target\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    for u in ["inslice.service", "probe-inner.slice", "probe.slice"] {
        assert_eq!(s.active(u), "active", "{u}:\n{}", s.console());
    }
    // Stopping the outer slice stops what is in it.
    s.ctl_ok(&["stop", "probe.slice"]);
    assert_eq!(s.active("inslice.service"), "inactive");
    s.poweroff();
}
