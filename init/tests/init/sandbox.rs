//! The file-system sandbox in a mount namespace of the service's own:
//! ProtectSystem=, ProtectHome=, ReadWritePaths= and friends, PrivateTmp=,
//! PrivateDevices=, and the `+` prefix that escapes them.

use crate::harness::*;

#[test]
fn services_see_the_file_system_their_sandbox_settings_describe() {
    let mut s = System::new(&[
        (
            "strict.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nProtectSystem=strict\n\
             ReadWritePaths=@ROOT@/rw -@ROOT@/missing\nStateDirectory=strict-state\n\
             ExecStartPre=+/bin/sh -c 'echo pre > @ROOT@/ro/pre'\n\
             ExecStart=/bin/sh -c '\
               (echo x > @ROOT@/ro/f) 2>/dev/null && echo ro-WRITTEN || echo ro-refused; \
               echo y > @ROOT@/rw/f && echo rw-ok; \
               echo z > $$STATE_DIRECTORY/f && echo state-ok; \
               (: > /tmp/b8g-strict-probe) 2>/dev/null && echo tmp-WRITTEN || echo tmp-refused; \
               echo q > /dev/null && echo dev-ok'\n",
        ),
        (
            "hidden.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nProtectHome=yes\n\
             InaccessiblePaths=@ROOT@/secret @ROOT@/secret.txt\nReadOnlyPaths=@ROOT@/data\n\
             ExecStart=/bin/sh -c '\
               echo \"home [$$(ls -A /root 2>&1 | head -c 40)]\"; \
               echo \"dir [$$(ls -A @ROOT@/secret 2>&1 | head -c 40)]\"; \
               echo \"file [$$(cat @ROOT@/secret.txt 2>&1 | head -c 40)]\"; \
               (echo w > @ROOT@/data/f) 2>/dev/null && echo data-WRITTEN || echo data-refused; \
               cat @ROOT@/data/keep'\n",
        ),
        (
            "devs.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nPrivateDevices=yes\nPrivateTmp=yes\n\
             ExecStart=/bin/sh -c '\
               echo \"devs [$$(ls /dev | tr \"\\n\" \" \")]\"; \
               echo hi > /dev/null && echo null-ok; \
               echo \"log $$(readlink /dev/log)\"; \
               echo t > /tmp/b8g-private-tmp-probe && echo tmp-ok'\n",
        ),
        (
            "rwkeep.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nProtectSystem=strict\nReadWritePaths=@ROOT@/rw2\n\
             ExecStartPre=+/bin/sh -c 'mount --bind @ROOT@/rw2/sub @ROOT@/rw2/sub && mount -o remount,bind,ro @ROOT@/rw2/sub'\n\
             ExecStart=/bin/sh -c '\
               echo a > @ROOT@/rw2/f && echo rw2-ok; \
               (echo b > @ROOT@/rw2/sub/f) 2>/dev/null && echo sub-WRITTEN || echo sub-refused'\n",
        ),
        (
            "broken.service",
            "[Service]\nType=oneshot\nReadOnlyPaths=@ROOT@/not-there\nExecStart=/bin/true\n",
        ),
    ]);
    for d in ["ro", "rw", "secret", "data", "rw2/sub"] {
        std::fs::create_dir_all(s.path(d)).unwrap();
    }
    std::fs::write(s.path("secret/key"), "the secret").unwrap();
    std::fs::write(s.path("secret.txt"), "the secret").unwrap();
    std::fs::write(s.path("data/keep"), "data-readable\n").unwrap();
    s.boot();
    s.wait_ready();
    for u in ["strict", "hidden", "devs"] {
        s.ctl_ok(&["start", u]);
    }
    let log = |u: &str| s.log(u);

    let strict = log("strict.service");
    for want in ["ro-refused", "rw-ok", "state-ok", "tmp-refused", "dev-ok"] {
        assert!(
            strict.lines().any(|l| l.ends_with(want)),
            "{want}:\n{strict}"
        );
    }
    assert!(!strict.lines().any(|l| l.ends_with("WRITTEN")), "{strict}");
    // The `+` command ran outside the sandbox.
    assert_eq!(std::fs::read_to_string(s.path("ro/pre")).unwrap(), "pre\n");
    assert!(!s.path("ro/f").exists());
    assert_eq!(std::fs::read_to_string(s.path("rw/f")).unwrap(), "y\n");

    let hidden = log("hidden.service");
    assert!(hidden.contains("home []"), "{hidden}");
    assert!(hidden.contains("dir []"), "{hidden}");
    assert!(hidden.contains("file []"), "{hidden}");
    assert!(
        hidden.contains("data-refused") && hidden.contains("data-readable"),
        "{hidden}"
    );
    assert!(!hidden.contains("the secret"), "{hidden}");

    let devs = log("devs.service");
    let line = devs
        .lines()
        .find(|l| l.contains(": devs ["))
        .unwrap_or_else(|| panic!("{devs}"));
    for want in [" null ", " zero ", " urandom ", " pts ", " shm ", " log "] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    for host_only in ["kmsg", "mem ", "loop0", "vda", "sda"] {
        assert!(!line.contains(host_only), "{host_only} visible: {line}");
    }
    assert!(
        devs.contains("null-ok") && devs.contains("tmp-ok"),
        "{devs}"
    );
    assert!(devs.contains("log /run/systemd/journal/dev-log"), "{devs}");
    assert!(!std::path::Path::new("/tmp/b8g-private-tmp-probe").exists());

    // ReadWritePaths= keeps the host's own read-only mounts below it read-only (it
    // puts back what was there, it does not make everything writable).
    s.ctl_ok(&["start", "rwkeep"]);
    let keep = log("rwkeep.service");
    assert!(keep.lines().any(|l| l.ends_with("rw2-ok")), "{keep}");
    assert!(keep.lines().any(|l| l.ends_with("sub-refused")), "{keep}");

    // A path the unit names that is missing fails it, naming the setting.
    let o = s.ctl(&["start", "broken"]);
    assert!(!o.status.success());
    let broken = log("broken.service");
    assert!(
        broken.contains("ReadOnlyPaths=") && broken.contains("not-there"),
        "{broken}"
    );
    s.poweroff();
}
