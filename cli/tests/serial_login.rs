//! Logging in on the serial console with a password, expect-style: boots
//! images/minimal.nix with the root autologin turned off, types the user name
//! and password of its `guest` account (users.users.guest.hashedPassword,
//! rendered into /etc/shadow) at busybox's getty/login, and runs a command in
//! the shell it gets. A wrong password must be refused first, so the test
//! cannot pass when login ignores the password.
//!
//! Needs B8G_INIT_BIN (static b8g-init), qemu, erofs-utils and apt package lists.

mod serial_login_support;

use serial_login_support::{leftovers, require_tool, wrapper, VmSession};
use std::time::Duration;

#[test]
fn password_login_on_the_serial_console_runs_a_command() {
    require_tool("qemu-system-x86_64", "qemu-system-x86");
    let root = tempfile::tempdir().unwrap();
    let file = wrapper(
        root.path(),
        "images/minimal.nix",
        "  services.getty.autologinUser = lib.mkForce null;",
    );
    let mut vm = VmSession::start(root.path(), &file);
    // The prompt may come before or after b8g-init reports the system ready.
    vm.expect("login:", Duration::from_secs(500));

    vm.send("guest\n");
    vm.expect("Password:", Duration::from_secs(30));
    vm.send("not-the-password\n");
    vm.expect("Login incorrect", Duration::from_secs(30));

    vm.expect("login:", Duration::from_secs(30));
    vm.send("guest\n");
    vm.expect("Password:", Duration::from_secs(30));
    vm.send("b8g\n");
    // The shell may start after the first line is typed; type again until it answers.
    let mut answered = false;
    for _ in 0..6 {
        vm.send("echo \"logged-in-$((6*7))-$(id -un)-$(cat /etc/hostname)\"\n");
        if vm
            .try_expect("logged-in-42-guest-minimal", Duration::from_secs(10))
            .is_some()
        {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "the shell did not run the command; console:\n{}",
        vm.console
    );
    // Killed with its qemu (SIGKILL to the group), run-vm leaves no scratch disk behind.
    drop(vm);
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
}
