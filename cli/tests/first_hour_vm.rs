//! The NixOS habits of a first configuration (issue 21), booted: users with
//! NixOS's defaults and an initial password, per-user packages on PATH through
//! /etc/profile, environment.variables, time.timeZone, systemd.tmpfiles.rules
//! and a startAt timer, on images/minimal.nix under qemu (TCG); and sudo
//! (security.sudo, NixOS's defaults): setuid root from /run/wrappers/bin, a
//! wheel member's password checked through PAM against /etc/shadow, others refused.
//!
//! Needs B8G_INIT_BIN (static b8g-init and b8gctl, set by `cargo xtask test`),
//! qemu, erofs-utils and apt package lists, as journey_minimal.

use std::path::Path;
use std::process::Command;

#[test]
fn first_hour_options_work_in_a_booted_system() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let root = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let config = root.path().join("first-hour.nix");
    std::fs::write(
        &config,
        format!(
            r#"{{ pkgs, ... }}: {{
  imports = [ {minimal} ];
  time.timeZone = "Europe/Berlin";
  environment.variables.FIRST_HOUR = "from-set-environment";
  users.users.alice = {{
    isNormalUser = true;
    extraGroups = [ "wheel" ];
    initialPassword = "pw";
    packages = [ (pkgs.writeShellScriptBin "alice-tool" "echo alice-tool-ran") ];
  }};
  users.users.bob = {{ isNormalUser = true; initialPassword = "pw2"; }};
  users.users.dave = {{ isNormalUser = true; initialPassword = "pw3"; }};
  security.sudo.extraRules = [ {{ users = [ "bob" ]; runAs = "root"; commands = [ {{ command = "/run/current-system/sw/bin/id -un"; options = [ "NOPASSWD" ]; }} ]; }} ];
  systemd.tmpfiles.rules = [ "d /var/lib/firsthour 0750 alice users -" "L+ /run/firsthour-link - - - - /var/lib/firsthour" ];
  systemd.services.tick = {{ script = "true"; startAt = "hourly"; }};
  systemd.services.report = {{
    wantedBy = [ "multi-user.target" ];
    after = [ "systemd-tmpfiles-setup.service" "timers.target" ];
    serviceConfig = {{ Type = "oneshot"; StandardOutput = "journal+console"; }};
    script = ''
      echo "fh: zone $(readlink /etc/localtime) $(cat /etc/timezone) $(date +%Z)"
      echo "fh: shadow $(grep -c '^alice:[$]6[$]' /etc/shadow) $(stat -c %a /etc/shadow)"
      echo "fh: homes $(stat -c %a /root) $(stat -c '%a %U' /home/alice)"
      echo "fh: passwd $(grep ^alice: /etc/passwd)"
      echo "fh: tmpfiles $(stat -c '%a %U %G' /var/lib/firsthour) $(readlink /run/firsthour-link)"
      echo "fh: login $(su -l alice -c 'echo $FIRST_HOUR; alice-tool' 2>&1 | tr '\n' ' ')"
      echo "fh: interactive $(su alice -c "sh -lic 'alias ll'" 2>&1 | tr '\n' ' ')"
      echo "fh: wrapper $(stat -c '%a %U %G' /run/wrappers/bin/sudo) $(su -l alice -c 'command -v sudo')"
      echo "fh: sudo $(su -l alice -c "echo pw | sudo -S -p \"\" id -u" 2>&1 | tr '\n' ' ')"
      echo "fh: sudo-bad $(su -l alice -c "echo nope | sudo -S -p \"\" id -u" 2>&1 | tr '\n' ' ')"
      echo "fh: sudo-other $(su -l bob -c "echo pw2 | sudo -S -p \"\" id -u" 2>&1 | tr '\n' ' ')"
      echo "fh: sudo-none $(su -l dave -c "echo pw3 | sudo -S -p \"\" id -u" 2>&1 | tr '\n' ' ')"
      echo "fh: sudo-rule $(su -l bob -c "sudo -n /run/current-system/sw/bin/id -un" 2>&1 | tr '\n' ' ')"
      echo "fh: sudo-i $(su -l alice -c "echo pw | sudo -S -p \"\" -i id -un" 2>&1 | tr '\n' ' ')"
      echo "fh: sudoers $(stat -c '%a %U' /etc/sudoers)"
      jc=/run/current-system/sw/bin/journalctl
      echo "fh: sudo-log $($jc -t sudo -o cat | grep -c 'alice : .*USER=root ; COMMAND=') $($jc -t sudo -p notice -o cat | grep -c 'alice : 1 incorrect password attempt')"
      echo "fh: timer $(${{pkgs.b8g}}/bin/b8gctl is-active tick.timer)"
      # As useradd would (busybox-static has no adduser): a user added on the running system.
      echo "carol:x:1500:100::/var/empty:/bin/sh" >> /etc/passwd
      echo "carol:!:1::::::" >> /etc/shadow
      /run/current-system/activate "$(readlink /run/current-system)" >/dev/null
      echo "fh: adduser $(grep -c ^carol: /etc/passwd) $(grep -c ^carol: /etc/shadow) $(grep -c ^alice: /etc/passwd)"
      echo "first-hour-done"
    '';
  }};
}}"#,
            minimal = workspace.join("images/minimal.nix").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root.path())
        .args([
            "run-vm",
            "--until",
            "first-hour-done",
            "--timeout",
            "400",
            "-o",
        ])
        .arg(root.path().join("result"))
        .args(["--b8g-bin", &bin])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run-vm failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let line = |tag: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("fh: {tag} ")))
            .unwrap_or_else(|| panic!("no `fh: {tag}` line:\n{stdout}"))
            .to_string()
    };
    let zone = line("zone");
    assert!(
        zone.contains("/etc/zoneinfo/Europe/Berlin Europe/Berlin CE"),
        "{zone}"
    );
    assert!(line("shadow").ends_with("shadow 1 640"), "{stdout}");
    assert!(line("homes").ends_with("homes 700 700 alice"), "{stdout}");
    let passwd = line("passwd");
    assert!(
        passwd.contains("alice:x:1000:100::/home/alice:/run/current-system/sw/bin/sh"),
        "{passwd}"
    );
    assert!(
        line("tmpfiles").contains("750 alice users /var/lib/firsthour"),
        "{stdout}"
    );
    let login = line("login");
    assert!(
        login.contains("from-set-environment") && login.contains("alice-tool-ran"),
        "{login}"
    );
    // NixOS's default aliases, in interactive login shells.
    assert!(line("interactive").contains("ll='ls -l'"), "{stdout}");
    assert!(line("timer").ends_with("timer active"), "{stdout}");
    // sudo: setuid root in /run/wrappers/bin, first on PATH; the wheel member's
    // password works, a wrong one and a user outside wheel do not; extraRules apply.
    assert!(
        line("wrapper").ends_with("wrapper 4511 root root /run/wrappers/bin/sudo"),
        "{stdout}"
    );
    assert!(line("sudo").ends_with("sudo 0 "), "{stdout}");
    let bad = line("sudo-bad");
    assert!(
        bad.contains("Sorry, try again.")
            && bad.contains("1 incorrect password attempt")
            && !bad.contains(" 0 "),
        "{bad}"
    );
    assert!(
        line("sudo-other").contains(
            "user bob is not allowed to execute '/run/current-system/sw/bin/id -u' as root"
        ),
        "{stdout}"
    );
    assert!(
        line("sudo-none").contains("dave is not in the sudoers file"),
        "{stdout}"
    );
    assert!(line("sudo-rule").ends_with("sudo-rule root "), "{stdout}");
    assert!(line("sudoers").ends_with("sudoers 440 root"), "{stdout}");
    // sudo's syslog(3) lines reach /dev/log and the journal, with their priorities
    // (a wrong password is logged at alert, so `-p notice` keeps it).
    let log = line("sudo-log");
    let counts: Vec<u32> = log
        .split("fh: sudo-log ")
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    assert!(
        counts.len() == 2 && counts[0] >= 2 && counts[1] == 1,
        "{log}\n{stdout}"
    );
    // `sudo -i` opens the PAM service sudo-i (it failed: "unable to initialize PAM").
    assert!(line("sudo-i").ends_with("sudo-i root "), "{stdout}");
    // users.mutableUsers (the default): a user added on the running system survives an activation.
    assert!(line("adduser").ends_with("adduser 1 1 1"), "{stdout}");
    assert!(stdout.contains("b8g: system ready in"), "{stdout}");
}
