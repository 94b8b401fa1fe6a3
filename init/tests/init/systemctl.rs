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
