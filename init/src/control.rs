//! The control protocol between `b8gctl` and b8g-init: one JSON request line over a
//! Unix stream socket, one JSON response line back. The server side is
//! `manager/control_server.rs`; this module holds the messages and a small blocking client.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What a request asks for; on the wire its kebab-case name (`"cmd":"reset-failed"`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Jobs for `units` (the reply names every unit whose job the request queued).
    Start,
    Isolate,
    Stop,
    Restart,
    TryRestart,
    ReloadOrRestart,
    Reload,
    /// The units' state (all loaded units when `units` is empty).
    Status,
    ResetFailed,
    ListUnits,
    ListDependencies,
    IsSystemRunning,
    /// One unit's log lines after `after` (b8g-init's own without a unit).
    Log,
    /// Every unit's log lines after `after`, in the order written.
    Journal,
    DaemonReload,
    Poweroff,
    Reboot,
    Halt,
    /// `units[0]` is the runlevel.
    Telinit,
    Jobs,
    Paths,
    /// `signal` to the units' `whom` processes.
    Kill,
    ListTimers,
}

impl Command {
    /// The wire name, which is also b8gctl's verb.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A name that is no [`Command`].
#[derive(Debug, thiserror::Error)]
#[error("unknown command {0:?}")]
pub struct UnknownCommand(pub String);

impl std::str::FromStr for Command {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Command, UnknownCommand> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| UnknownCommand(s.to_string()))
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Request {
    pub cmd: Command,
    #[serde(default)]
    pub units: Vec<String>,
    /// For `log`: lines after this sequence number.
    #[serde(default)]
    pub after: u64,
    /// For `kill`: the signal (SIGTERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// For `kill`: `main`, `control` or `all` (the default), as `--kill-whom=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whom: Option<String>,
}

impl Request {
    pub fn new(cmd: Command, units: Vec<String>) -> Request {
        Request {
            cmd,
            units,
            after: 0,
            signal: None,
            whom: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Response {
        Response {
            ok: true,
            error: None,
            data,
        }
    }
    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            data: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {error}{}", if error.kind() == std::io::ErrorKind::PermissionDenied { " (b8g-init answers root only: use sudo)" } else { "" })]
    Connect {
        path: String,
        // In the message, not a `source`: the chain would print it a second time.
        error: std::io::Error,
    },
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad response from b8g-init: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Sends one request and waits for its response.
pub fn call(socket: &Path, req: &Request) -> Result<Response, ClientError> {
    let mut s = UnixStream::connect(socket).map_err(|error| ClientError::Connect {
        path: socket.display().to_string(),
        error,
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut resp = String::new();
    BufReader::new(s).read_line(&mut resp)?;
    Ok(serde_json::from_str(&resp)?)
}

/// Sends an sd_notify message to `$NOTIFY_SOCKET` (what `b8gctl notify` does). With
/// `barrier`, also passes a pipe and waits until b8g-init closes it, so the message is
/// known to be processed before this process exits (its pid identifies the unit).
///
/// Like `systemd-notify`, the message is sent on behalf of the parent process (the
/// service's shell, usually its main process) when the kernel allows it: a privileged
/// sender may name another pid in `SCM_CREDENTIALS`. Otherwise the kernel refuses that
/// and the message goes out with our own pid, which then needs `NotifyAccess=all`.
pub fn notify(socket: &Path, message: &str, barrier: bool) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let s = std::os::unix::net::UnixDatagram::unbound()?;
    s.connect(socket)?;
    let pipe = if barrier {
        let mut p = [0; 2];
        // SAFETY: pipe2 into a valid array.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fresh fds that nothing else owns.
        Some(unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) })
    } else {
        None
    };
    // SAFETY: plain getters without preconditions.
    let cred = unsafe {
        libc::ucred {
            pid: libc::getppid(),
            uid: libc::geteuid(),
            gid: libc::getegid(),
        }
    };
    let send = |cred: Option<&libc::ucred>| -> std::io::Result<()> {
        let mut iov = libc::iovec {
            iov_base: message.as_ptr() as *mut _,
            iov_len: message.len(),
        };
        let mut cbuf = [0u64; 16];
        // SAFETY: control messages built inside `cbuf`, which holds CMSG_SPACE(ucred) +
        // CMSG_SPACE(4) with room to spare; every pointer stays valid for the call.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let mut len = 0usize;
            if cred.is_some() {
                len += libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32) as usize;
            }
            if pipe.is_some() {
                len += libc::CMSG_SPACE(4) as usize;
            }
            if len > 0 {
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = len as _;
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                if let Some(cred) = cred {
                    (*c).cmsg_level = libc::SOL_SOCKET;
                    (*c).cmsg_type = libc::SCM_CREDENTIALS;
                    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::ucred>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::ucred>(), *cred);
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                if let Some((_, w)) = &pipe {
                    (*c).cmsg_level = libc::SOL_SOCKET;
                    (*c).cmsg_type = libc::SCM_RIGHTS;
                    (*c).cmsg_len = libc::CMSG_LEN(4) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), w.as_raw_fd());
                }
            }
            if libc::sendmsg(s.as_raw_fd(), &msg, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // Our parent is PID 1 itself when b8gctl is the service's main process: speak for
    // ourselves then.
    match send(Some(&cred).filter(|c| c.pid > 1)) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => send(None)?,
        r => r?,
    }
    let Some((r, w)) = pipe else {
        return Ok(());
    };
    drop(w);
    let mut pfd = libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd; EOF on the pipe means the barrier fd was closed.
    unsafe { libc::poll(&mut pfd, 1, 5000) };
    Ok(())
}

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn commands_go_on_the_wire_by_their_b8gctl_names() {
        let r = Request::new(Command::ResetFailed, vec!["a.service".into()]);
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""cmd":"reset-failed""#), "{line}");
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        for name in [
            "start",
            "try-restart",
            "list-timers",
            "is-system-running",
            "journal",
        ] {
            assert_eq!(name.parse::<Command>().unwrap().name(), name);
        }
        assert!("frobnicate".parse::<Command>().is_err());
        // An unknown command from a newer client is a bad request, not a panic.
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"frobnicate"}"#).is_err());
    }

    #[test]
    fn a_refused_connection_says_why_once_and_what_to_do() {
        let e = ClientError::Connect {
            path: "/run/b8g/control".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let text = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(
            text,
            "cannot connect to /run/b8g/control: permission denied (b8g-init answers root only: use sudo)"
        );
    }
}
