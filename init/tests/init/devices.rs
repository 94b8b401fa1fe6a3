//! Issue 16: `.device` units follow udevd's events. The events are sent as udevd sends
//! them (a libudev message to the kobject-uevent netlink group 2) from inside the test's
//! namespaces by a small Python sender run as a unit.

use crate::harness::*;

const SENDER: &str = r#"import socket, struct, sys
action, dev = (w.encode() for w in sys.argv[1].split(":"))
props = (b"ACTION=" + action + b"\0DEVPATH=/devices/virtual/misc/" + dev + b"\0SUBSYSTEM=misc\0"
         b"DEVNAME=/dev/" + dev + b"\0DEVLINKS=/dev/disk/by-label/probe\0TAGS=:systemd:\0"
         b"SYSTEMD_WANTS=wanted.service\0")
head = b"libudev\0" + struct.pack(">I", 0xfeedcafe) + struct.pack("=IIIIIII", 40, 40, len(props), 0, 0, 0, 0)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)
s.bind((0, 0))
s.sendto(head + props, (0, 2))
"#;

#[test]
fn device_units_follow_udev_and_bound_units_stop_when_the_device_goes() {
    let mut s = System::new(&[
        (
            "bound.service",
            "[Unit]\nBindsTo=dev-disk-by\\x2dlabel-probe.device\nAfter=dev-disk-by\\x2dlabel-probe.device\n[Service]\nExecStart=/bin/sleep 1000\n",
        ),
        (
            "wanted.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        ),
        (
            "udev@.service",
            "[Service]\nType=oneshot\nExecStart=/usr/bin/python3 @ROOT@/send-uevent.py %i\n",
        ),
    ]);
    s.write("send-uevent.py", SENDER);
    // udevd's control socket and rules that tag devices: a device job waits for udev.
    s.write("run/udev/control", "");
    s.write(
        "etc/udev/rules.d/99-b8g-init.rules",
        "SUBSYSTEM==\"block\", TAG+=\"systemd\"\n",
    );
    s.boot();
    s.wait_ready();
    // The start job waits for the device (the node /dev/b8gprobe does not exist).
    let c = s.ctl(&["start", "--no-block", "bound.service"]);
    assert!(c.status.success(), "{c:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(s.active("bound.service"), "inactive");
    assert_eq!(s.active("dev-disk-by\\x2dlabel-probe.device"), "activating");
    s.ctl_ok(&["start", "udev@add:b8gprobe.service"]);
    s.wait_state("bound.service", "active");
    assert_eq!(s.active("dev-disk-by\\x2dlabel-probe.device"), "active");
    s.wait_state("wanted.service", "active");
    // A look-alike device with the same label comes and goes: the label's unit stays,
    // the real device still has it.
    s.ctl_ok(&["start", "udev@add:lookalike.service"]);
    s.ctl_ok(&["start", "udev@remove:lookalike.service"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(s.active("dev-disk-by\\x2dlabel-probe.device"), "active");
    assert_eq!(s.active("bound.service"), "active");
    // The device goes: what is bound to it stops.
    s.ctl_ok(&["start", "udev@remove:b8gprobe.service"]);
    s.wait_state("bound.service", "inactive");
    assert!(
        s.log("bound.service")
            .contains("bound to dev-disk-by\\x2dlabel-probe.device, which is gone"),
        "{}",
        s.log("bound.service")
    );
    s.poweroff();
}

#[test]
fn a_netlink_socket_unit_activates_its_service_with_the_socket() {
    // ListenNetlink= (udevd's systemd-udevd-kernel.socket, journald's audit socket): the
    // service gets the bound netlink socket as fd 3 when a message arrives.
    let mut s = System::new(&[
        // As systemd-udevd-kernel.socket: udevd ignores uevents without credentials.
        (
            "uevents.socket",
            "[Socket]\nListenNetlink=kobject-uevent 2\nPassCredentials=yes\nReceiveBuffer=4M\n",
        ),
        (
            "uevents.service",
            "[Service]\nExecStart=/usr/bin/python3 -c 'import socket; s = socket.socket(fileno=3); d = s.recv(65536); print(\"got\", s.family == socket.AF_NETLINK, d[:7], \"passcred\", s.getsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED), \"rcvbuf\", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 4 << 20)'\n",
        ),
        (
            "udev@.service",
            "[Service]\nType=oneshot\nExecStart=/usr/bin/python3 @ROOT@/send-uevent.py %i\n",
        ),
    ]);
    s.write("send-uevent.py", SENDER);
    s.boot();
    s.wait_ready();
    s.ctl_ok(&["start", "uevents.socket"]);
    assert_eq!(s.active("uevents.service"), "inactive");
    s.ctl_ok(&["start", "udev@add:netlinkprobe.service"]);
    s.wait_for(
        |s| {
            s.log("uevents.service")
                .contains("got True b'libudev' passcred 1 rcvbuf True")
        },
        "the service reading the netlink socket",
    );
    s.poweroff();
}
