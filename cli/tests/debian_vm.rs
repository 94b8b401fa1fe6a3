//! Debian's archive as components, booted: images/minimal.nix with 20 Debian
//! packages it never had (`pkgs.debian.*`, pinned in recipes/debian/lock.json)
//! in environment.systemPackages and Debian's bash as the login shell, under
//! qemu (TCG). On the serial console each program runs and prints its own
//! version (not busybox's applet of the same name), python imports its
//! standard library through /usr, and git makes a commit with its helpers.
//! The guest has no /usr but the system profile's.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, erofs-utils and apt package lists.

mod serial_login_support;

use serial_login_support::{require_tool, wrapper, VmSession};
use std::time::Duration;

/// Each program, how to ask its version, and what only the real program prints.
const PROGRAMS: [(&str, &str); 20] = [
    ("htop --version", "htop 3."),
    ("git --version", "git version 2."),
    ("curl --version", "libcurl/7."),
    ("python3 --version", "Python 3.11"),
    ("vim --version", "VIM - Vi IMproved 9."),
    ("tmux -V", "tmux 3."),
    ("rsync --version", "rsync  version 3."),
    ("jq --version", "jq-1."),
    ("strace -V", "strace -- version 6."),
    ("less --version", "less 590"),
    ("file --version", "file-5."),
    ("tree --version", "tree v2."),
    ("lsof -v", "revision: 4."),
    ("sqlite3 --version", "3.40."),
    ("nano --version", "GNU nano, version 7."),
    ("wget --version", "GNU Wget 1."),
    ("socat -V", "socat version 1."),
    ("bc --version", "bc 1.07"),
    ("zstd --version", "Zstandard CLI"),
    ("ncdu --version", "ncdu 1."),
];

#[test]
fn twenty_debian_packages_run_in_the_booted_system() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    let root = tempfile::tempdir().unwrap();
    let names: Vec<&str> = PROGRAMS
        .iter()
        .map(|(c, _)| c.split(' ').next().unwrap())
        .collect();
    let mut checks = String::new();
    for (command, expect) in PROGRAMS {
        checks.push_str(&format!("check '{command}' '{expect}'\n",));
    }
    // A bash script (busybox sh would run its own applets first: `wget`, `less`).
    let script = format!(
        r#"ok=0
check() {{
  if out=$($1 2>&1 </dev/null) && [[ $out == *"$2"* ]]; then ok=$((ok+1)); echo "ran: $1";
  else echo "FAILED: $1: ${{out:0:300}}"; fi
}}
{checks}python3 -c 'import json, sqlite3, ssl, os; print("python-stdlib-at", os.__file__)'
mkdir -p /tmp/repo && cd /tmp/repo && git init -q && git -c user.name=b8g -c user.email=b8g@example.org commit -q --allow-empty -m first && echo "git-log $(git log --format=%s)"
echo "usr-lib-is $(readlink -f /usr/lib/python3.11/os.py)"
echo "shell-is $(readlink -f /proc/$PPID/exe)"
echo "debian-check: $ok of {n} ran"
"#,
        n = PROGRAMS.len()
    );
    std::fs::write(root.path().join("debian-check.sh"), script).unwrap();
    let file = wrapper(
        root.path(),
        "images/minimal.nix",
        &format!(
            r##"  environment.systemPackages = (with pkgs.debian; [ {} ]) ++ [
    (pkgs.writeScriptBin "debian-check" ("#!${{pkgs.debian.bash}}/bin/bash\n" + builtins.readFile ./debian-check.sh))
  ];
  users.defaultUserShell = pkgs.debian.bash;"##,
            names.join(" ")
        ),
    );
    let mut vm = VmSession::start(root.path(), &file);
    vm.expect("b8g: system ready", Duration::from_secs(900));
    let mut answered = false;
    for _ in 0..6 {
        vm.send("debian-check\n");
        if vm
            .try_expect("debian-check: ", Duration::from_secs(60))
            .is_some()
        {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "debian-check did not run; console:\n{}",
        vm.console
    );
    vm.expect(" ran", Duration::from_secs(30));
    let console = vm.console.clone();
    let report = console
        .rsplit_once("debian-check: ")
        .map(|(_, r)| r.lines().next().unwrap_or("").trim_end())
        .unwrap_or("");
    assert_eq!(
        report,
        format!("{n} of {n} ran", n = PROGRAMS.len()),
        "console:\n{console}"
    );
    for needle in [
        "python-stdlib-at /usr/lib/python3.11/os.py",
        "git-log first",
        "usr-lib-is /b8g/store/",
        "shell-is /b8g/store/",
        "-deb-bash-5",
    ] {
        assert!(
            console.contains(needle),
            "no {needle:?} in console:\n{console}"
        );
    }
}
