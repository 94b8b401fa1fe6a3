//! The first hour at the console, as a NixOS user meets it (issue 21): boot
//! images/minimal.nix without `quiet`, take the root shell the getty gives on the serial
//! console, run `b8gctl status` and a program of `environment.systemPackages` from PATH,
//! list the generations and query the running one in the guest's own store,
//! stop `sleep 30` with ^C, and `poweroff` (busybox's, which signals PID 1): qemu must
//! end by itself with status 0. Every b8g-init message must show once.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, erofs-utils and apt package lists.

mod serial_login_support;

use serial_login_support::{require_tool, wrapper, VmSession};
use std::time::{Duration, Instant};

/// Runs `cmd` at the shell and waits for the marker it prints when done; the marker is
/// put together by the shell, so the echoed command line does not match it.
fn run(vm: &mut VmSession, n: u32, cmd: &str, timeout: Duration) -> Duration {
    vm.send(&format!("{cmd}; echo done-$(({n}*1000))-$?\n"));
    vm.expect(&format!("done-{}-", n * 1000), timeout)
}

#[test]
fn console_journey_login_status_path_ctrl_c_and_poweroff() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    // Without `quiet`, so the kernel echoes its log on the console (duplicates would show).
    let file = wrapper(
        root.path(),
        "images/minimal.nix",
        "  boot.kernelParams = lib.mkForce [ ];",
    );
    let mut vm = VmSession::start(root.path(), &file);
    vm.expect("b8g: system ready in", Duration::from_secs(500));
    let booted = started.elapsed();

    // The autologin shell: type until it answers.
    let mut answered = false;
    for _ in 0..20 {
        vm.send("echo shell-$((6*7))\n");
        if vm.try_expect("shell-42", Duration::from_secs(3)).is_some() {
            answered = true;
            break;
        }
    }
    assert!(answered, "no shell on the console:\n{}", vm.console);

    // b8gctl is on PATH (the system profile) and answers.
    let from = vm.console.len();
    run(&mut vm, 1, "b8gctl status", Duration::from_secs(30));
    assert!(
        vm.console[from..].contains("State: "),
        "b8gctl status did not run:\n{}",
        &vm.console[from..]
    );
    // A program of environment.systemPackages (b8gctl is one; busybox's applets run as
    // shell builtins), found through PATH in the system profile.
    vm.send("echo \"where-$(command -v b8gctl)\" \"path-$PATH\"\n");
    vm.expect(
        "where-/run/current-system/sw/bin/b8gctl",
        Duration::from_secs(30),
    );
    // The setuid wrappers (sudo), the user's own profile, then the system's, as on NixOS.
    vm.expect(
        "path-/run/wrappers/bin:/etc/profiles/per-user/root/bin:/run/current-system/sw/bin:",
        Duration::from_secs(10),
    );
    // systemctl is b8gctl under systemctl's name, on PATH as on NixOS.
    vm.send("systemctl is-system-running; echo \"sc-$(command -v systemctl)\"\n");
    vm.expect(
        "sc-/run/current-system/sw/bin/systemctl",
        Duration::from_secs(30),
    );
    // journalctl too, reading b8g-init's per-unit logs.
    vm.send("journalctl -n 50 | grep -q 'service: '; echo \"jc-$?\"\n");
    vm.expect("jc-0", Duration::from_secs(30));

    // The image carries its store registration (as NixOS images load
    // nix-path-registration): the running generation is valid in the guest's own store,
    // and `b8g system list-generations` reads it.
    let from = vm.console.len();
    vm.send("b8g system list-generations; echo gens-$((3*1000))-$?\n");
    vm.expect("gens-3000-0", Duration::from_secs(60));
    vm.send(
        "b8g store path-info -r /run/current-system > /tmp/closure; echo valid-$((4*1000))-$?\n",
    );
    vm.expect("valid-4000-0", Duration::from_secs(60));
    vm.send("echo paths-$(wc -l < /tmp/closure)-end-$((5*1000))\n");
    vm.expect("-end-5000", Duration::from_secs(10));
    let listing = &vm.console[from..];
    let paths: usize = listing
        .rsplit("paths-")
        .next()
        .and_then(|r| r.split("-end-5000").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        paths > 5,
        "the closure is not valid in the guest's store:\n{listing}"
    );

    // ^C stops a foreground program: the shell has the tty as its controlling terminal.
    vm.send("sleep 30\n");
    std::thread::sleep(Duration::from_secs(2));
    vm.send("\x03");
    let t = Instant::now();
    vm.send("echo back-$((2+3))\n");
    vm.expect("back-5", Duration::from_secs(15));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "^C did not stop sleep 30"
    );
    assert!(
        !vm.console.contains("job control turned off"),
        "the shell has no job control:\n{}",
        vm.console
    );

    // busybox's poweroff (SIGUSR2 to PID 1) powers the VM off; run-vm exits 0.
    vm.send("poweroff\n");
    let status = vm.wait_exit(Duration::from_secs(120));
    let console = vm.console.clone();
    let status = status.unwrap_or_else(|| panic!("the VM did not power off:\n{console}"));
    assert!(status.success(), "run-vm ended with {status}:\n{console}");
    assert!(console.contains("reboot: Power down"), "{console}");
    // Each b8g-init message once, on one line (the kernel log's copy was split in three).
    assert_eq!(
        console.matches("shutting down (Poweroff)").count(),
        1,
        "messages are shown twice:\n{console}"
    );
    assert!(
        console.contains("b8g-init: shutting down (Poweroff)"),
        "a message is split over lines:\n{console}"
    );
    eprintln!(
        "booted in {:.1} s, whole journey {:.1} s",
        booted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
