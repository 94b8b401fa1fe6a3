//! Generators (systemd.generator(7)) and the built-in fstab generator, in a namespace.

use crate::harness::*;

#[test]
fn generators_and_fstab_make_units_before_boot_and_again_at_daemon_reload() {
    let mut s = System::new(&[(
        "check.service",
        "[Unit]\nAfter=local-fs.target\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart=/bin/sh -c 'grep -q \" @ROOT@/mnt/scratch tmpfs \" /proc/self/mounts && echo scratch-mounted'\n\
         [Install]\nWantedBy=multi-user.target\n",
    )]);
    s.write(
        "etc/systemd/system-generators/hello",
        "#!/bin/sh\nset -e\n\
         printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes\\nExecStart=/bin/echo generated-%s\\n' \"$(cat @ROOT@/gen-word)\" > \"$1/gen.service\"\n\
         mkdir -p \"$1/multi-user.target.wants\"\n\
         ln -sf ../gen.service \"$1/multi-user.target.wants/gen.service\"\n\
         echo wrote gen.service\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        s.path("etc/systemd/system-generators/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    s.write("gen-word", "one\n");
    std::fs::create_dir_all(s.path("mnt/scratch")).unwrap();
    s.write(
        "etc/fstab",
        "# a comment\n\
         tmpfs @ROOT@/mnt/scratch tmpfs mode=0700,nodev,x-systemd.mount-timeout=10s 0 0\n\
         /dev/nonexistent-b8g @ROOT@/mnt/later ext4 noauto 0 2\n\
         /swapfile none swap sw 0 0\n",
    );
    s.boot();
    s.wait_ready();
    s.wait_for(
        |s| s.log("gen.service").contains("generated-one"),
        "the generated unit",
    );
    s.wait_for(
        |s| s.log("check.service").contains("scratch-mounted"),
        "the fstab mount",
    );
    let mount = s.ctl_ok(&["list-units", "--all"]);
    assert!(
        mount.contains("scratch.mount") && mount.contains("mounted"),
        "{mount}"
    );
    // noauto: a unit that nothing started.
    let scratch = mount
        .split_whitespace()
        .find(|w| w.ends_with("-mnt-scratch.mount"))
        .unwrap_or_else(|| panic!("{mount}"));
    let later = scratch.replace("scratch", "later");
    assert_eq!(s.active(&later), "inactive");
    let cat = s.ctl_ok(&["cat", &later]);
    assert!(
        cat.contains("What=/dev/nonexistent-b8g") && cat.contains("Type=ext4"),
        "{cat}"
    );
    let init_log = String::from_utf8_lossy(&s.journalctl(&["-o", "cat"]).stdout).into_owned();
    assert!(
        init_log.contains("generator hello: wrote gen.service"),
        "{init_log}"
    );
    // The swap line is a .swap unit (tried at boot; a user namespace may not swapon).
    let swap = s.ctl_ok(&["cat", "swapfile.swap"]);
    assert!(
        swap.contains("[Swap]\nWhat=/swapfile\nOptions=sw\n"),
        "{swap}"
    );
    s.wait_for(
        |s| s.log("swapfile.swap").contains("swapon /swapfile"),
        "the swap unit's swapon",
    );
    // daemon-reload runs the generators again over an emptied directory.
    s.write("gen-word", "two\n");
    s.ctl_ok(&["daemon-reload"]);
    s.ctl_ok(&["restart", "gen.service"]);
    s.wait_for(
        |s| s.log("gen.service").contains("generated-two"),
        "the regenerated unit",
    );
    s.poweroff();
}

#[test]
fn debians_standalone_tmpfiles_and_sysusers_run_at_boot_in_systemds_order() {
    let mut s = System::new(&[]);
    for tool in ["systemd-sysusers", "systemd-tmpfiles"] {
        let p = format!("usr/bin/{tool}");
        s.write(
            &p,
            &format!("#!/bin/sh\necho \"{tool} $*\" >> @ROOT@/order\n"),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s.path(&p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    s.boot();
    s.wait_ready();
    let order = std::fs::read_to_string(s.path("order")).unwrap_or_default();
    let lines: Vec<&str> = order.lines().collect();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("{l:?} not run:\n{order}"))
    };
    let users = at("systemd-sysusers ");
    let setup = at("systemd-tmpfiles --create --remove --boot --exclude-prefix=/dev");
    at("systemd-tmpfiles --prefix=/dev --create --boot");
    assert!(users < setup, "{order}");
    assert_eq!(s.active("systemd-tmpfiles-setup.service"), "active");
    s.poweroff();
}

#[test]
fn a_file_system_with_a_pass_number_is_checked_first_and_not_mounted_if_the_check_fails() {
    let mut s = System::new(&[]);
    s.write(
        "sbin/fsck",
        "#!/bin/sh\necho \"$*\" >> @ROOT@/fsck-ran\nexit 4\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.path("sbin/fsck"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(s.path("mnt/checked")).unwrap();
    s.write(
        "etc/fstab",
        // A device node that exists (the fsck unit and the mount are bound to it).
        "/dev/null @ROOT@/mnt/checked ext4 nofail 0 2\n",
    );
    s.boot();
    s.wait_ready();
    s.wait_for(|s| s.path("fsck-ran").exists(), "fsck to run");
    assert_eq!(
        std::fs::read_to_string(s.path("fsck-ran")).unwrap().trim(),
        "-a /dev/null"
    );
    assert_eq!(s.active("systemd-fsck@dev-null.service"), "failed");
    // The mount never ran: its check failed (nofail: the boot went on).
    let mount = b8g_init::unit::name::mount_unit_name(&s.path("mnt/checked"));
    assert_eq!(s.active(&mount), "inactive");
    assert!(
        s.log(&mount).contains("dependency failed"),
        "{}",
        s.log(&mount)
    );
    s.poweroff();
}
