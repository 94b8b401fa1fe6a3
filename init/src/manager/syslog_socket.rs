//! The syslog socket (`/dev/log`): what syslog(3) clients send lands in the log of
//! the unit the sender belongs to (by kernel credentials, as notifications are
//! attributed), and every line, theirs and the services' output, is forwarded to a
//! syslog daemon if one listens where journald forwards (`ForwardToSyslog=`).

use super::*;
use crate::log::Entry;

/// The log of syslog messages whose sender belongs to no unit (a login shell's
/// `logger`, a process that has exited).
pub(super) const UNATTRIBUTED: &str = "syslog";
/// The most of one datagram kept (journald's `LINE_MAX` is 48 KiB for streams); longer
/// ones are cut.
const DATAGRAM_MAX: usize = 16 * 1024;
/// Datagrams read per wakeup, so that a flood cannot starve the rest of the loop.
const BATCH: usize = 256;
/// systemd's default `SyslogFacility=` for services.
const LOG_DAEMON: u16 = 3 << 3;

impl Manager {
    pub(super) fn open_syslog(&mut self) {
        let p = self.cfg.syslog_socket();
        // Every process may log, as with journald's socket.
        let s = match crate::sys::dgram::bind_world_writable(&p) {
            Ok(s) => s,
            Err(e) => {
                self.say(&format!("cannot bind syslog socket {}: {e}", p.display()));
                return;
            }
        };
        crate::sys::fds::refuse_passed_fds(s.as_raw_fd());
        if self.cfg.boot {
            // As systemd-journald-dev-log.socket: /dev/log names the journal's socket.
            let dev_log = Path::new("/dev/log");
            if std::fs::symlink_metadata(dev_log).is_ok() {
                let _ = std::fs::remove_file(dev_log);
            }
            if let Err(e) = std::os::unix::fs::symlink(&p, dev_log) {
                self.say(&format!("cannot link /dev/log: {e}"));
            }
        }
        self.syslog = Some(s);
    }

    pub(super) fn handle_syslog(&mut self) {
        let Some(sock) = &self.syslog else { return };
        let fd = sock.as_raw_fd();
        let mut data = vec![0u8; DATAGRAM_MAX];
        for _ in 0..BATCH {
            let Some(d) = crate::sys::dgram::receive(fd, &mut data) else {
                break;
            };
            // Nobody passes descriptors to a log: closed, never here.
            crate::sys::fds::release(d.fds);
            let sender = d.sender;
            let raw = &data[..d.len];
            let m = crate::syslog::parse_datagram(raw);
            let unit = sender
                .and_then(|c| self.unit_of_pid(c.pid))
                .unwrap_or_else(|| UNATTRIBUTED.to_string());
            // The pid in the tag is the sender's word, kept as such; the kernel's pid
            // and uid are kept beside it (journald's SYSLOG_PID and _PID, _UID).
            let entry = Entry {
                unit: &unit,
                text: &m.text,
                priority: m.severity(),
                ident: m.ident.as_deref(),
                pid: m.pid,
                sender: sender.map(|c| (c.pid, c.uid)),
                at_us: None,
                // An unprivileged sender has a budget of its own: a user's flood in a
                // login session must not silence sshd's or sudo's lines in that unit.
                limit_key: sender
                    .filter(|c| c.uid != 0)
                    .map(|c| format!("{unit} uid {}", c.uid)),
            };
            if self.logs.push_limited(&entry).is_some() {
                // journald forwards the datagram as it came.
                self.forward_to_syslog(raw, sender);
            }
        }
    }

    /// A service's output line, as the journal stores it: its `<N>` prefix read
    /// (`SyslogLevelPrefix=`), `SyslogIdentifier=` as its tag, rate-limited, forwarded.
    /// Returns the formatted line when it was kept.
    pub(super) fn log_output_line(&mut self, n: &str, line: &str) -> Option<String> {
        let exec = self
            .set
            .units
            .get(n)
            .and_then(|u| u.service())
            .map(|s| &s.exec);
        let level = exec
            .and_then(|x| x.syslog_level)
            .unwrap_or(crate::log::INFO);
        let prefix = exec.and_then(|x| x.syslog_level_prefix).unwrap_or(true);
        let facility = exec
            .and_then(|x| x.syslog_facility)
            .map_or(LOG_DAEMON, |f| u16::from(f) << 3);
        let ident = exec.and_then(|x| x.syslog_identifier.clone());
        let (severity, text) = match crate::syslog::parse_priority(line, false) {
            Some((v, rest)) if prefix => (v as u8, rest),
            _ => (level, line),
        };
        let pid = self.rt.get(n).and_then(|r| r.main_pid);
        let entry = Entry {
            unit: n,
            text,
            priority: severity,
            ident: ident.as_deref(),
            pid: None,
            sender: None,
            at_us: None,
            limit_key: None,
        };
        let f = self.logs.push_limited(&entry)?;
        let tag = ident.unwrap_or_else(|| n.rsplit_once('.').map_or(n, |(s, _)| s).to_string());
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let fwd =
            crate::syslog::forward_line(facility | u16::from(severity), secs, &tag, pid, text);
        self.forward_to_syslog(fwd.as_bytes(), None);
        Some(f)
    }

    /// Sends a line to the syslog daemon's socket if one is bound; never waits (a full
    /// or absent socket drops the line, as journald does).
    fn forward_to_syslog(&mut self, data: &[u8], sender: Option<libc::ucred>) {
        let p = self.cfg.syslog_forward_socket();
        if self.syslog_out.is_none() {
            match std::os::unix::net::UnixDatagram::unbound() {
                Ok(s) => {
                    let _ = s.set_nonblocking(true);
                    self.syslog_out = Some(s);
                }
                Err(_) => return,
            }
        }
        let Some(s) = &self.syslog_out else { return };
        // With the sender's credentials, as journald forwards: the syslog daemon sees
        // who sent it, not PID 1. A sender that has exited (ESRCH) is sent as ours.
        if let Some(cred) = sender {
            if send_as(s.as_raw_fd(), &p, data, cred) {
                return;
            }
        }
        let _ = s.send_to(data, &p);
    }
}

/// sendmsg(2) to `path` with SCM_CREDENTIALS `cred` (PID 1 may name any process).
fn send_as(fd: RawFd, path: &Path, data: &[u8], cred: libc::ucred) -> bool {
    let bytes = path.as_os_str().as_encoded_bytes();
    // SAFETY: a zeroed sockaddr_un filled within its size, buffers that outlive the call.
    unsafe {
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= sa.sun_path.len() {
            return false;
        }
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in bytes.iter().enumerate() {
            sa.sun_path[i] = *b as libc::c_char;
        }
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut cbuf = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut sa as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_CREDENTIALS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::ucred>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), cred);
        libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) >= 0
    }
}
