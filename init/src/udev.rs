//! udev's device events, as systemd's device units follow them: the messages udevd
//! multicasts on the kobject-uevent netlink socket (group 2) after its rules ran, and
//! the `.device` unit names a device tagged `systemd` stands for (systemd.device(5)).
//!
//! Only udevd (root) can send to that group; the message is parsed strictly anyway.

use std::os::fd::{FromRawFd, OwnedFd};

/// libudev's netlink header: "libudev\0", then the magic 0xfeedcafe in network order.
const PREFIX: &[u8] = b"libudev\0";
const MAGIC: u32 = 0xfeed_cafe;
/// The netlink group udevd sends processed events to (1 is the kernel's).
pub const UDEV_GROUP: u32 = 2;
/// The largest event read (udev's are a few kB).
pub const MAX_EVENT: usize = 64 * 1024;
/// The socket's receive buffer: systemd's size for its udev monitor. Memory is taken
/// only while events wait.
const RECEIVE_BUFFER: libc::c_int = 128 * 1024 * 1024;

/// One processed device event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub action: String,
    /// The sysfs path below /sys (`/devices/pci0000:00/…/block/vdb`).
    pub devpath: String,
    pub subsystem: String,
    pub devname: Option<String>,
    /// Symlinks udev made (`/dev/disk/by-uuid/…`).
    pub devlinks: Vec<String>,
    pub tags: Vec<String>,
    /// SYSTEMD_ALIAS=: more unit names for the device (`/sys/subsystem/net/devices/eth0`).
    pub aliases: Vec<String>,
    /// SYSTEMD_WANTS=: units to start when the device appears.
    pub wants: Vec<String>,
    /// SYSTEMD_READY=0: the device exists but is not usable yet (a half-set-up dm or
    /// md device); systemd takes it as absent.
    pub not_ready: bool,
    /// DEVPATH_OLD= of a `move` (a renamed device).
    pub devpath_old: Option<String>,
}

impl Event {
    /// Parses a libudev netlink message; None for anything else.
    pub fn parse(buf: &[u8]) -> Option<Event> {
        if buf.len() < 40 || !buf.starts_with(PREFIX) {
            return None;
        }
        let be = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let ne = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        if be(8) != MAGIC {
            return None;
        }
        let (off, len) = (ne(16) as usize, ne(20) as usize);
        let props = buf.get(off..off.checked_add(len)?)?;
        let mut e = Event::default();
        for kv in props.split(|b| *b == 0) {
            let Ok(kv) = std::str::from_utf8(kv) else {
                continue;
            };
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let words = || v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
            match k {
                "ACTION" => e.action = v.to_string(),
                "DEVPATH" => e.devpath = v.to_string(),
                "SUBSYSTEM" => e.subsystem = v.to_string(),
                "DEVNAME" => e.devname = Some(v.to_string()),
                "DEVLINKS" => e.devlinks = words(),
                // CURRENT_TAGS (udev 247+) says which tags this event carries; TAGS
                // keeps tags the device ever had.
                "CURRENT_TAGS" => e.tags = tags(v),
                "TAGS" if e.tags.is_empty() => e.tags = tags(v),
                "SYSTEMD_ALIAS" => e.aliases = words(),
                "SYSTEMD_WANTS" => e.wants = words(),
                "SYSTEMD_READY" => e.not_ready = v == "0",
                "DEVPATH_OLD" => e.devpath_old = Some(v.to_string()),
                _ => {}
            }
        }
        if e.action.is_empty() || !e.devpath.starts_with('/') || e.devpath.contains("/../") {
            return None;
        }
        Some(e)
    }

    /// Whether systemd makes device units of it (udev's 99-systemd.rules tags them).
    pub fn for_systemd(&self) -> bool {
        self.tags.iter().any(|t| t == "systemd")
    }

    /// The `.device` units this device is: its sysfs path, its node, each symlink and
    /// each SYSTEMD_ALIAS=, as systemd names them.
    pub fn unit_names(&self) -> Vec<String> {
        let mut paths = vec![format!("/sys{}", self.devpath)];
        paths.extend(self.devname.iter().cloned());
        paths.extend(self.devlinks.iter().cloned());
        paths.extend(self.aliases.iter().filter(|a| a.starts_with('/')).cloned());
        let mut names: Vec<String> = paths
            .iter()
            .map(|p| format!("{}.device", crate::unit::name::escape_path(p)))
            .collect();
        names.dedup();
        names
    }
}

fn tags(v: &str) -> Vec<String> {
    v.split(':')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A netlink socket that hears udevd's processed events (non-blocking, close-on-exec,
/// with the sender's credentials).
pub fn monitor() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor owned right after creation.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_KOBJECT_UEVENT,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = UDEV_GROUP;
        let r = libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // udevadm trigger replays every device at boot faster than PID 1 may read:
        // the default buffer (about 200 kB) overflows and events are dropped, so the
        // buffer is made as large as systemd makes its own (forced, as root).
        let size: libc::c_int = RECEIVE_BUFFER;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            if libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            ) == 0
            {
                break;
            }
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
        Ok(fd)
    }
}

#[cfg(test)]
pub(crate) fn message(props: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in props {
        body.extend_from_slice(format!("{k}={v}").as_bytes());
        body.push(0);
    }
    let mut m = PREFIX.to_vec();
    m.extend_from_slice(&MAGIC.to_be_bytes());
    m.extend_from_slice(&40u32.to_ne_bytes());
    m.extend_from_slice(&40u32.to_ne_bytes());
    m.extend_from_slice(&(body.len() as u32).to_ne_bytes());
    m.extend_from_slice(&[0u8; 16]);
    m.extend_from_slice(&body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_disk_is_its_sysfs_node_and_link_units() {
        let m = message(&[
            ("ACTION", "add"),
            (
                "DEVPATH",
                "/devices/pci0000:00/0000:00:05.0/virtio2/block/vdb",
            ),
            ("SUBSYSTEM", "block"),
            ("DEVNAME", "/dev/vdb"),
            (
                "DEVLINKS",
                "/dev/disk/by-uuid/6b8a-17 /dev/disk/by-label/srv",
            ),
            ("TAGS", ":systemd:"),
            ("SYSTEMD_WANTS", "probe.service"),
        ]);
        let e = Event::parse(&m).unwrap();
        assert!(e.for_systemd());
        assert_eq!(e.wants, ["probe.service"]);
        assert_eq!(
            e.unit_names(),
            [
                "sys-devices-pci0000:00-0000:00:05.0-virtio2-block-vdb.device",
                "dev-vdb.device",
                "dev-disk-by\\x2duuid-6b8a\\x2d17.device",
                "dev-disk-by\\x2dlabel-srv.device",
            ]
        );
        let net = message(&[
            ("ACTION", "add"),
            ("DEVPATH", "/devices/virtual/net/eth0"),
            ("SUBSYSTEM", "net"),
            ("CURRENT_TAGS", ":systemd:"),
            ("TAGS", ":other:"),
            ("SYSTEMD_ALIAS", "/sys/subsystem/net/devices/eth0"),
        ]);
        let e = Event::parse(&net).unwrap();
        assert!(e.for_systemd());
        assert!(e
            .unit_names()
            .contains(&"sys-subsystem-net-devices-eth0.device".to_string()));
    }

    #[test]
    fn kernel_messages_and_broken_headers_are_ignored() {
        assert_eq!(
            Event::parse(b"add@/devices/virtual/net/lo\0ACTION=add\0"),
            None
        );
        let mut m = message(&[("ACTION", "add"), ("DEVPATH", "/devices/x")]);
        assert!(Event::parse(&m).is_some());
        m[20..24].copy_from_slice(&9999u32.to_ne_bytes());
        assert_eq!(Event::parse(&m), None, "properties beyond the message");
        let m = message(&[("ACTION", "add"), ("DEVPATH", "/devices/../../etc")]);
        assert_eq!(Event::parse(&m), None);
        let m = message(&[("DEVPATH", "/devices/x")]);
        assert_eq!(Event::parse(&m), None, "no action");
    }
}
