//! PID 1's connection to the D-Bus system bus, without an async runtime: a non-blocking
//! Unix socket the manager's poll(2) loop drives, messages built and parsed by
//! `rustbus`. What b8g-init does on the bus is what systemd does for Debian's units:
//! it follows the owners of the `BusName=` of Type=dbus services (readiness), owns
//! `org.freedesktop.systemd1` so that dbus-daemon's `--systemd-activation` can ask it
//! to start units (the `ActivationRequest` signal, answered by `ActivationFailure` when
//! the unit cannot start), and refuses every method call of systemd's API it lacks.
//!
//! The daemon and every client on the bus are untrusted: reads and queued writes are
//! bounded, nothing blocks, and a request is taken only from the bus daemon itself.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use rustbus::message_builder::{MarshalledMessage, MessageBuilder, MessageType};

/// The bus daemon's own name: messages from it carry this sender.
pub const DBUS: &str = "org.freedesktop.DBus";
/// The name PID 1 owns on the bus, as systemd does.
pub const SYSTEMD1: &str = "org.freedesktop.systemd1";
const ACTIVATOR: &str = "org.freedesktop.systemd1.Activator";
/// The largest message read (dbus-daemon allows 128 MiB; what PID 1 needs is tiny).
const MAX_MESSAGE: usize = 1 << 20;
/// Queued output beyond this means the daemon does not read: the connection is dropped.
const MAX_QUEUED: usize = 4 << 20;
/// Replies to callers are not queued beyond this.
const MAX_REPLY_QUEUE: usize = 256 << 10;
/// Calls to the daemon awaiting replies; beyond this (a daemon that does not answer)
/// the oldest are forgotten.
const MAX_PENDING: usize = 1024;
/// A fixed D-Bus header: endianness, type, flags, version, body length, serial, and
/// the header fields' array length.
const FIXED_HEADER: usize = 16;

/// The system bus's socket: `$DBUS_SYSTEM_BUS_ADDRESS` (its `unix:path=`), else
/// `dbus/system_bus_socket` in the runtime directory (/run), as sd-bus finds it.
pub fn system_bus_path(run_dir: &std::path::Path) -> PathBuf {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .and_then(|a| address_path(&a))
        .unwrap_or_else(|| run_dir.join("dbus/system_bus_socket"))
}

/// The first `unix:path=` of a D-Bus address list.
fn address_path(address: &str) -> Option<PathBuf> {
    address.split(';').find_map(|t| {
        t.strip_prefix("unix:")?
            .split(',')
            .find_map(|kv| kv.strip_prefix("path=").map(PathBuf::from))
    })
}

/// What the manager hears from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `name` is owned by `owner` now (`None`: by nobody).
    NameOwner { name: String, owner: Option<String> },
    /// The bus daemon asks for a unit to be started (bus activation).
    ActivationRequest { unit: String },
    /// A line for b8g-init's log.
    Note(String),
}

/// What a reply answers.
#[derive(Debug, Clone)]
enum Pending {
    Hello,
    RequestName,
    GetNameOwner(String),
    /// AddMatch and others whose reply only matters when it is an error.
    Ignore(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the daemon's `OK <guid>` line.
    Auth,
    Running,
}

#[derive(Debug)]
pub struct Bus {
    sock: UnixStream,
    phase: Phase,
    out: Vec<u8>,
    inb: Vec<u8>,
    serial: u32,
    pending: std::collections::HashMap<u32, Pending>,
    /// Names whose owner changes are asked for (one AddMatch each).
    watched: BTreeSet<String>,
    /// Bytes of an oversized message still to be thrown away.
    skip: usize,
    pub unique_name: Option<String>,
}

/// Why the connection ended.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connecting to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("the bus closed the connection")]
    Closed,
    #[error("reading from or writing to the bus: {0}")]
    Io(#[from] std::io::Error),
    #[error("the bus refused authentication: {0}")]
    Auth(String),
    #[error("a message of {0} bytes is beyond PID 1's limit")]
    TooLarge(usize),
    #[error("the bus does not read what PID 1 sends")]
    Stalled,
    #[error("a malformed message: {0}")]
    Malformed(String),
}

/// A non-blocking connect: a blocking connect(2) to a Unix socket whose listener does
/// not accept waits for ever once the backlog is full (EAGAIN here: tried later).
fn connect_nonblocking(path: &std::path::Path) -> std::io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: a zeroed sockaddr_un filled within its bounds; the descriptor is owned at
    // once.
    unsafe {
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= sa.sun_path.len() {
            return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sa.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
        if libc::connect(fd, (&sa as *const libc::sockaddr_un).cast(), len as u32) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(UnixStream::from(owned))
    }
}

impl Bus {
    /// Connects (non-blocking), authenticates as our uid and says Hello, asks for
    /// `org.freedesktop.systemd1`: all sent at once, as sd-bus pipelines them.
    pub fn connect(path: &std::path::Path) -> Result<Bus, BusError> {
        let err = |source| BusError::Connect {
            path: path.display().to_string(),
            source,
        };
        let sock = connect_nonblocking(path).map_err(err)?;
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() }.to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let mut bus = Bus {
            sock,
            phase: Phase::Auth,
            out: format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes(),
            inb: Vec::new(),
            serial: 0,
            pending: Default::default(),
            watched: BTreeSet::new(),
            skip: 0,
            unique_name: None,
        };
        bus.call_dbus("Hello", Pending::Hello, |_| Ok(()))?;
        bus.call_dbus("RequestName", Pending::RequestName, |m| {
            m.body.push_param2(SYSTEMD1, 0u32)
        })?;
        bus.flush()?;
        Ok(bus)
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    /// Whether poll(2) should wait for the socket to take more output.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Follows the owner of `name`: a match on its NameOwnerChanged (once), and its
    /// owner now (the name may have been taken before the match), as an event.
    pub fn watch_name(&mut self, name: &str) -> Result<(), BusError> {
        if self.watched.insert(name.to_string()) {
            let rule = format!(
                "type='signal',sender='{DBUS}',path='/org/freedesktop/DBus',interface='{DBUS}',member='NameOwnerChanged',arg0='{name}'"
            );
            self.call_dbus("AddMatch", Pending::Ignore("AddMatch"), |m| {
                m.body.push_param(rule.as_str())
            })?;
        }
        self.call_dbus("GetNameOwner", Pending::GetNameOwner(name.into()), |m| {
            m.body.push_param(name)
        })?;
        self.flush()
    }

    /// Tells the bus daemon that a unit it asked for cannot start, so the client
    /// waiting on the activation gets an error now rather than after its timeout.
    pub fn activation_failure(
        &mut self,
        unit: &str,
        error: &str,
        message: &str,
    ) -> Result<(), BusError> {
        let mut m = MessageBuilder::new()
            .signal(ACTIVATOR, "ActivationFailure", "/org/freedesktop/systemd1")
            .to(DBUS)
            .build();
        m.body
            .push_param3(unit, error, message)
            .map_err(|e| BusError::Malformed(format!("{e:?}")))?;
        self.send(m)?;
        self.flush()
    }

    fn call_dbus(
        &mut self,
        member: &str,
        what: Pending,
        args: impl FnOnce(&mut MarshalledMessage) -> Result<(), rustbus::wire::errors::MarshalError>,
    ) -> Result<(), BusError> {
        let mut m = MessageBuilder::new()
            .call(member)
            .with_interface(DBUS)
            .on("/org/freedesktop/DBus")
            .at(DBUS)
            .build();
        args(&mut m).map_err(|e| BusError::Malformed(format!("{e:?}")))?;
        let serial = self.send(m)?;
        if self.pending.len() >= MAX_PENDING {
            self.pending.clear();
        }
        self.pending.insert(serial, what);
        Ok(())
    }

    fn send(&mut self, m: MarshalledMessage) -> Result<u32, BusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let buf = marshal(&m, self.serial)?;
        if self.out.len() + buf.len() > MAX_QUEUED {
            return Err(BusError::Stalled);
        }
        self.out.extend_from_slice(&buf);
        Ok(self.serial)
    }

    /// Writes what the socket takes now.
    pub fn flush(&mut self) -> Result<(), BusError> {
        while !self.out.is_empty() {
            match self.sock.write(&self.out) {
                Ok(0) => return Err(BusError::Closed),
                Ok(k) => {
                    self.out.drain(..k);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads what arrived (at most a bounded amount per call) and handles every whole
    /// message in it.
    pub fn on_readable(&mut self) -> Result<Vec<Event>, BusError> {
        let mut chunk = [0u8; 16384];
        let mut events = Vec::new();
        for _ in 0..16 {
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(BusError::Closed),
                Ok(k) => self.inb.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            if self.inb.len() > MAX_MESSAGE + FIXED_HEADER {
                break;
            }
        }
        if self.phase == Phase::Auth {
            let Some(end) = self.inb.windows(2).position(|w| w == b"\r\n") else {
                if self.inb.len() > 4096 {
                    return Err(BusError::Auth("no line from the daemon".into()));
                }
                return Ok(events);
            };
            let line = String::from_utf8_lossy(&self.inb[..end]).into_owned();
            self.inb.drain(..end + 2);
            if !line.starts_with("OK ") {
                return Err(BusError::Auth(line));
            }
            self.phase = Phase::Running;
        }
        loop {
            // Anyone may send PID 1 a message up to the daemon's limit (32 MiB): one
            // beyond PID 1's is thrown away as it arrives, not a reason to disconnect.
            if self.skip > 0 {
                let k = self.skip.min(self.inb.len());
                self.inb.drain(..k);
                self.skip -= k;
                if self.skip > 0 {
                    break;
                }
            }
            let len = match frame_len(&self.inb) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(BusError::TooLarge(len)) => {
                    self.skip = len;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if self.inb.len() < len {
                break;
            }
            let frame: Vec<u8> = self.inb.drain(..len).collect();
            self.handle(&frame, &mut events)?;
        }
        self.flush()?;
        Ok(events)
    }

    fn handle(&mut self, frame: &[u8], events: &mut Vec<Event>) -> Result<(), BusError> {
        // A message rustbus cannot read is dropped (the daemon checked its framing).
        let Ok(m) = parse(frame) else {
            return Ok(());
        };
        let h = &m.dynheader;
        match m.typ {
            MessageType::Reply | MessageType::Error => {
                // Only the daemon answers PID 1's calls.
                if h.sender.as_deref() != Some(DBUS) {
                    return Ok(());
                }
                let Some(what) = h.response_serial.and_then(|s| self.pending.remove(&s)) else {
                    return Ok(());
                };
                let error = (m.typ == MessageType::Error).then(|| {
                    let text: String = m.body.parser().get().unwrap_or_default();
                    format!("{}: {text}", h.error_name.as_deref().unwrap_or("error"))
                });
                match (what, error) {
                    (Pending::Hello, None) => {
                        self.unique_name = m.body.parser().get::<String>().ok();
                    }
                    (Pending::RequestName, None) => {
                        let r: u32 = m.body.parser().get().unwrap_or(0);
                        if r != 1 && r != 4 {
                            events.push(Event::Note(format!(
                                "D-Bus: {SYSTEMD1} is owned by another connection (reply {r}); bus activation will not reach b8g-init"
                            )));
                        }
                    }
                    (Pending::GetNameOwner(name), None) => {
                        let owner: String = m.body.parser().get().unwrap_or_default();
                        events.push(Event::NameOwner {
                            name,
                            owner: (!owner.is_empty()).then_some(owner),
                        });
                    }
                    // No owner yet: its NameOwnerChanged will come.
                    (Pending::GetNameOwner(_), Some(_)) => {}
                    (Pending::RequestName, Some(e)) => events.push(Event::Note(format!(
                        "D-Bus: cannot own {SYSTEMD1} ({e}); the bus's policy must allow root to own it (b8g-init's org.freedesktop.systemd1.conf)"
                    ))),
                    (Pending::Ignore(call), Some(e)) => {
                        events.push(Event::Note(format!("D-Bus: {call} failed: {e}")))
                    }
                    (Pending::Hello, Some(e)) => {
                        events.push(Event::Note(format!("D-Bus: Hello failed: {e}")))
                    }
                    (_, None) => {}
                }
            }
            MessageType::Signal => {
                // Only the bus daemon's signals count: any client can send a signal,
                // but the daemon writes the sender field itself.
                if h.sender.as_deref() != Some(DBUS) {
                    return Ok(());
                }
                match (h.interface.as_deref(), h.member.as_deref()) {
                    (Some(DBUS), Some("NameOwnerChanged")) => {
                        let mut p = m.body.parser();
                        let name: String = p.get().unwrap_or_default();
                        let _old: String = p.get().unwrap_or_default();
                        let new: String = p.get().unwrap_or_default();
                        if self.watched.contains(&name) {
                            events.push(Event::NameOwner {
                                name,
                                owner: (!new.is_empty()).then_some(new),
                            });
                        }
                    }
                    (Some(ACTIVATOR), Some("ActivationRequest")) => {
                        if let Ok(unit) = m.body.parser().get::<String>() {
                            events.push(Event::ActivationRequest { unit });
                        }
                    }
                    _ => {}
                }
            }
            MessageType::Call => {
                // systemd's API is not offered: each call gets an error at once (a
                // client would otherwise wait for its timeout), Peer.Ping an answer.
                const NO_REPLY_EXPECTED: u8 = 1;
                // A caller that does not read its replies makes the daemon stop reading
                // PID 1's output: past a bound, calls go unanswered rather than queued.
                if m.flags & NO_REPLY_EXPECTED != 0 || self.out.len() > MAX_REPLY_QUEUE {
                    return Ok(());
                }
                let reply = if h.interface.as_deref() == Some("org.freedesktop.DBus.Peer")
                    && h.member.as_deref() == Some("Ping")
                {
                    h.make_response()
                } else {
                    let mut e = h.make_error_response(
                        "org.freedesktop.DBus.Error.UnknownMethod",
                        Some(format!(
                            "b8g-init does not offer {}.{}",
                            h.interface.as_deref().unwrap_or("?"),
                            h.member.as_deref().unwrap_or("?")
                        )),
                    );
                    // rustbus 0.19 types its error responses as method returns.
                    e.typ = MessageType::Error;
                    e
                };
                self.send(reply)?;
            }
            MessageType::Invalid => {}
        }
        Ok(())
    }
}

/// A whole message on the wire. rustbus 0.19 leaves an error's ERROR_NAME header
/// field out (and the bus daemon drops a connection that sends such an error), so it is
/// added here: a header field (code 4, signature `s`) at the end of the field array.
fn marshal(m: &MarshalledMessage, serial: u32) -> Result<Vec<u8>, BusError> {
    let mut buf = Vec::new();
    rustbus::wire::marshal::marshal(m, serial, &mut buf)
        .map_err(|e| BusError::Malformed(format!("{e:?}")))?;
    if let (MessageType::Error, Some(name)) = (m.typ, &m.dynheader.error_name) {
        add_string_field(&mut buf, 4, name);
    }
    buf.extend_from_slice(m.get_buf());
    Ok(buf)
}

/// Appends a string header field (`code`, signature `s`) to a marshalled header that
/// ends, padded, after its field array; messages are built little-endian.
fn add_string_field(buf: &mut Vec<u8>, code: u8, value: &str) {
    let fields = u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize;
    buf.truncate(FIXED_HEADER + fields);
    buf.resize(buf.len().div_ceil(8) * 8, 0);
    buf.extend_from_slice(&[code, 1, b's', 0]);
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value.as_bytes());
    buf.push(0);
    let fields = (buf.len() - FIXED_HEADER) as u32;
    buf[12..16].copy_from_slice(&fields.to_le_bytes());
    buf.resize(buf.len().div_ceil(8) * 8, 0);
}

/// The length of the message at the start of `b`, once its fixed header is there;
/// refuses anything over [`MAX_MESSAGE`].
fn frame_len(b: &[u8]) -> Result<Option<usize>, BusError> {
    if b.len() < FIXED_HEADER {
        return Ok(None);
    }
    let u32_at = |i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        match b[0] {
            b'l' => Ok(u32::from_le_bytes(a)),
            b'B' => Ok(u32::from_be_bytes(a)),
            x => Err(BusError::Malformed(format!("byte order {x:#x}"))),
        }
    };
    let body = u32_at(4)? as usize;
    let fields = u32_at(12)? as usize;
    let len = (FIXED_HEADER + fields).div_ceil(8) * 8 + body;
    if body > MAX_MESSAGE || fields > MAX_MESSAGE || len > MAX_MESSAGE {
        return Err(BusError::TooLarge(len));
    }
    Ok(Some(len))
}

fn parse(frame: &[u8]) -> Result<MarshalledMessage, BusError> {
    use rustbus::wire::unmarshal::{
        unmarshal_dynamic_header, unmarshal_header, unmarshal_next_message,
    };
    let bad = |e: rustbus::wire::errors::UnmarshalError| BusError::Malformed(format!("{e:?}"));
    let (used, header) = unmarshal_header(frame, 0).map_err(bad)?;
    let (fields, dynheader) = unmarshal_dynamic_header(&header, frame, used).map_err(bad)?;
    let (_, msg) = unmarshal_next_message(&header, dynheader, frame, used + fields).map_err(bad)?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(m: MarshalledMessage, serial: u32) -> Vec<u8> {
        marshal(&m, serial).unwrap()
    }

    #[test]
    fn frames_are_measured_before_they_are_read_and_huge_ones_refused() {
        let mut m = MessageBuilder::new()
            .signal(DBUS, "NameOwnerChanged", "/org/freedesktop/DBus")
            .build();
        m.body.push_param3("org.example.A", "", ":1.5").unwrap();
        let f = frame(m, 7);
        assert_eq!(frame_len(&f[..10]).unwrap(), None);
        assert_eq!(frame_len(&f).unwrap(), Some(f.len()));
        let parsed = parse(&f).unwrap();
        assert_eq!(parsed.dynheader.member.as_deref(), Some("NameOwnerChanged"));
        let mut huge = f.clone();
        huge[4..8].copy_from_slice(&(64u32 << 20).to_le_bytes());
        assert!(matches!(frame_len(&huge), Err(BusError::TooLarge(_))));
        huge[0] = b'x';
        assert!(frame_len(&huge).is_err());
    }

    #[test]
    fn oversized_and_unreadable_messages_are_skipped_not_fatal() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut bus = Bus {
            sock: ours,
            phase: Phase::Running,
            out: Vec::new(),
            inb: Vec::new(),
            serial: 0,
            pending: Default::default(),
            watched: ["org.example.A".to_string()].into(),
            skip: 0,
            unique_name: None,
        };
        let mut sig = MessageBuilder::new()
            .signal(DBUS, "NameOwnerChanged", "/org/freedesktop/DBus")
            .build();
        sig.body.push_param3("org.example.A", "", ":1.9").unwrap();
        // As the daemon delivers it: with its own name as the sender (field 7).
        let mut good = Vec::new();
        rustbus::wire::marshal::marshal(&sig, 3, &mut good).unwrap();
        add_string_field(&mut good, 7, DBUS);
        good.extend_from_slice(sig.get_buf());
        // A header claiming a 2 MiB body, the body, garbage in a valid frame, then a
        // good message.
        let mut huge = good[..FIXED_HEADER].to_vec();
        huge[4..8].copy_from_slice(&(2u32 << 20).to_le_bytes());
        huge[12..16].copy_from_slice(&0u32.to_le_bytes());
        huge.resize(FIXED_HEADER + (2 << 20), 0x41);
        let mut junk = good.clone();
        junk[FIXED_HEADER..FIXED_HEADER + 4].copy_from_slice(&[0xff; 4]);
        let writer = std::thread::spawn(move || {
            let mut t = theirs;
            t.write_all(&huge).unwrap();
            t.write_all(&junk).unwrap();
            t.write_all(&good).unwrap();
            t
        });
        let mut events = Vec::new();
        let t0 = std::time::Instant::now();
        while events.is_empty() && t0.elapsed() < std::time::Duration::from_secs(10) {
            events.extend(bus.on_readable().unwrap());
        }
        let _theirs = writer.join().unwrap();
        assert_eq!(
            events,
            [Event::NameOwner {
                name: "org.example.A".into(),
                owner: Some(":1.9".into())
            }]
        );
    }

    #[test]
    fn error_replies_carry_their_error_name() {
        let mut call = MessageBuilder::new()
            .call("ListUnits")
            .with_interface("org.freedesktop.systemd1.Manager")
            .on("/org/freedesktop/systemd1")
            .at(SYSTEMD1)
            .build();
        call.dynheader.sender = Some(":1.6".into());
        let parsed = parse(&marshal(&call, 2).unwrap()).unwrap();
        let mut e = parsed.dynheader.make_error_response(
            "org.freedesktop.DBus.Error.UnknownMethod",
            Some("no".into()),
        );
        e.typ = MessageType::Error;
        let wire = marshal(&e, 9).unwrap();
        assert_eq!(frame_len(&wire).unwrap(), Some(wire.len()));
        let back = parse(&wire).unwrap();
        assert_eq!(back.typ, MessageType::Error);
        assert_eq!(
            back.dynheader.error_name.as_deref(),
            Some("org.freedesktop.DBus.Error.UnknownMethod")
        );
        assert_eq!(back.dynheader.response_serial, Some(2));
        assert_eq!(back.body.parser().get::<String>().unwrap(), "no");
    }

    #[test]
    fn the_address_comes_from_the_environment_as_sd_bus_reads_it() {
        let parse = address_path;
        assert_eq!(
            parse("unix:path=/tmp/x/bus,guid=1"),
            Some(PathBuf::from("/tmp/x/bus"))
        );
        assert_eq!(parse("tcp:host=a;unix:path=/b"), Some(PathBuf::from("/b")));
        assert_eq!(parse("unix:abstract=x"), None);
    }
}
