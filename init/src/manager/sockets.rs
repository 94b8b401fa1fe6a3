//! `.socket` units: listeners and activation.

use super::*;

pub(super) fn open_listener(
    l: &crate::unit::Listen,
    c: &crate::unit::SocketConfig,
) -> Result<OwnedFd, std::io::Error> {
    match l.kind {
        ListenKind::Fifo => return open_fifo(l, c),
        ListenKind::Netlink => {
            let fd = open_netlink(&l.address)?;
            socket_options(&fd, c);
            return Ok(fd);
        }
        ListenKind::Special => return open_special(&l.address),
        _ => {}
    }
    let ty = match l.kind {
        ListenKind::Stream | ListenKind::Fifo | ListenKind::Netlink | ListenKind::Special => {
            libc::SOCK_STREAM
        }
        ListenKind::Datagram => libc::SOCK_DGRAM,
        ListenKind::SeqPacket => libc::SOCK_SEQPACKET,
    } | libc::SOCK_CLOEXEC
        | libc::SOCK_NONBLOCK;
    let a = &l.address;
    let (domain, addr): (i32, Vec<u8>) = if a.starts_with('/') || a.starts_with('@') {
        let p = Path::new(a);
        if a.starts_with('/') {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
                if let Some(m) = c.directory_mode {
                    let _ = std::fs::set_permissions(
                        d,
                        std::os::unix::fs::PermissionsExt::from_mode(m),
                    );
                }
            }
            let _ = std::fs::remove_file(p);
        }
        // SAFETY: zeroed sockaddr_un.
        let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as _;
        let bytes = a.as_bytes();
        if bytes.len() >= sa.sun_path.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "socket path too long",
            ));
        }
        for (i, b) in bytes.iter().enumerate() {
            sa.sun_path[i] = if i == 0 && *b == b'@' {
                0
            } else {
                *b as libc::c_char
            };
        }
        let len = std::mem::size_of::<libc::sa_family_t>()
            + bytes.len()
            + usize::from(a.starts_with('/'));
        // SAFETY: viewing the struct as bytes.
        let raw = unsafe {
            std::slice::from_raw_parts((&sa as *const libc::sockaddr_un).cast::<u8>(), len)
        }
        .to_vec();
        (libc::AF_UNIX, raw)
    } else {
        let sa: std::net::SocketAddr = match a.parse::<u16>() {
            Ok(port) => std::net::SocketAddr::from(([0u8; 16], port)),
            Err(_) => a.parse().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad address")
            })?,
        };
        match sa {
            std::net::SocketAddr::V4(v4) => {
                // SAFETY: zeroed sockaddr_in.
                let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                s.sin_family = libc::AF_INET as _;
                s.sin_port = v4.port().to_be();
                s.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                // SAFETY: viewing the struct as bytes.
                (
                    libc::AF_INET,
                    unsafe {
                        std::slice::from_raw_parts(
                            (&s as *const libc::sockaddr_in).cast::<u8>(),
                            std::mem::size_of_val(&s),
                        )
                    }
                    .to_vec(),
                )
            }
            std::net::SocketAddr::V6(v6) => {
                // SAFETY: zeroed sockaddr_in6.
                let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                s.sin6_family = libc::AF_INET6 as _;
                s.sin6_port = v6.port().to_be();
                s.sin6_addr.s6_addr = v6.ip().octets();
                // SAFETY: viewing the struct as bytes.
                (
                    libc::AF_INET6,
                    unsafe {
                        std::slice::from_raw_parts(
                            (&s as *const libc::sockaddr_in6).cast::<u8>(),
                            std::mem::size_of_val(&s),
                        )
                    }
                    .to_vec(),
                )
            }
        }
    };
    // SAFETY: socket/setsockopt/bind/listen on a fresh fd with a correctly sized address.
    unsafe {
        let fd = libc::socket(domain, ty, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        if c.reuse_port {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                (&one as *const libc::c_int).cast(),
                4,
            );
        }
        if domain == libc::AF_INET6 {
            let zero: libc::c_int = 0;
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&zero as *const libc::c_int).cast(),
                4,
            );
        }
        socket_options(&owned, c);
        if libc::bind(fd, addr.as_ptr().cast(), addr.len() as libc::socklen_t) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if a.starts_with('/') {
            let _ = std::fs::set_permissions(
                a,
                std::os::unix::fs::PermissionsExt::from_mode(c.socket_mode.unwrap_or(0o666)),
            );
        }
        if l.kind != ListenKind::Datagram
            && libc::listen(fd, c.backlog.unwrap_or(libc::SOMAXCONN)) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// `PassCredentials=`, `ReceiveBuffer=`, `SendBuffer=` (forced past the sysctl limits,
/// as systemd sets them, the plain option where that is refused).
fn socket_options(fd: &OwnedFd, c: &crate::unit::SocketConfig) {
    let set = |opt: libc::c_int, v: libc::c_int| {
        // SAFETY: setsockopt with an int option on our own socket.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            ) == 0
        }
    };
    if c.pass_credentials {
        set(libc::SO_PASSCRED, 1);
    }
    for (size, forced, plain) in [
        (c.receive_buffer, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (c.send_buffer, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if let Some(n) = size {
            let n = n.min(i32::MAX as u64) as libc::c_int;
            if !set(forced, n) {
                set(plain, n);
            }
        }
    }
}

/// `ListenNetlink=`: a raw netlink socket of the family, bound to the group mask (as
/// systemd binds it), for a daemon that reads the kernel's messages (udevd's uevents,
/// auditd's log).
fn open_netlink(address: &str) -> Result<OwnedFd, std::io::Error> {
    let (family, groups) = crate::unit::parse::netlink_address(address)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: socket and bind on a fresh descriptor with a zeroed sockaddr_nl.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            family,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = groups;
        if libc::bind(
            fd,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// `ListenSpecial=`: a character device or regular file, opened read-write without
/// following a symlink and without becoming the controlling terminal.
fn open_special(path: &str) -> Result<OwnedFd, std::io::Error> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    let t = f.metadata()?.file_type();
    if !(t.is_char_device() || t.is_file()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "ListenSpecial= needs a character device or a file",
        ));
    }
    Ok(OwnedFd::from(f))
}

/// `ListenFIFO=`: makes the named pipe (as systemd does: parent directories with
/// `DirectoryMode=`, the pipe with `SocketMode=`, an existing pipe kept) and opens it
/// read-write, so it becomes readable when a writer sends data and never hangs up.
pub(super) fn open_fifo(
    l: &crate::unit::Listen,
    c: &crate::unit::SocketConfig,
) -> Result<OwnedFd, std::io::Error> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
    let p = Path::new(&l.address);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
        if let Some(m) = c.directory_mode {
            let _ = std::fs::set_permissions(d, PermissionsExt::from_mode(m));
        }
    }
    let mode = c.socket_mode.unwrap_or(0o666);
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a FIFO", p.display()),
            ))
        }
        Err(_) => {
            let cpath = std::ffi::CString::new(l.address.as_bytes())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            // SAFETY: mkfifo on a NUL-terminated path.
            if unsafe { libc::mkfifo(cpath.as_ptr(), mode as libc::mode_t) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // The umask may have taken bits off.
    let _ = std::fs::set_permissions(p, PermissionsExt::from_mode(mode));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(p)?;
    Ok(OwnedFd::from(f))
}

impl Manager {
    pub(super) fn socket_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Socket(c) = &u.config else {
            return;
        };
        let mut fds = Vec::new();
        for l in &c.listen {
            match open_listener(l, c) {
                Ok(fd) => fds.push(fd),
                Err(e) => {
                    self.logs
                        .push(&n, &format!("cannot listen on {}: {e}", l.address));
                    self.say(&format!("{n}: cannot listen on {}: {e}", l.address));
                    self.rt.entry(n.clone()).or_default().result = Some("resources".into());
                    self.set_state(&n, ActiveState::Failed, "failed");
                    self.finish_job(&n, JobResult::Failed);
                    return;
                }
            }
        }
        self.rt.entry(n.clone()).or_default().listen_fds = fds;
        self.set_state(&n, ActiveState::Active, "listening");
        self.finish_job(&n, JobResult::Done);
    }

    pub(super) fn socket_wants_poll(&self, sock: &str) -> bool {
        let Some(u) = self.set.units.get(sock) else {
            return false;
        };
        let KindConfig::Socket(c) = &u.config else {
            return false;
        };
        if c.accept {
            return true;
        }
        // Service= (or the socket's own name) may be an alias (syslog.socket →
        // syslog.service → rsyslog.service): state and jobs are under the unit's name.
        let svc = self
            .set
            .resolve(&load::socket_service(u, c.service.as_deref()))
            .to_string();
        self.state_of(&svc) == ActiveState::Inactive
            || self.state_of(&svc) == ActiveState::Failed && !self.engine.has_job(&svc)
    }

    pub(super) fn socket_ready(&mut self, sock: &str, fd: RawFd) {
        let Some(u) = self.set.units.get(sock).cloned() else {
            return;
        };
        let KindConfig::Socket(c) = &u.config else {
            return;
        };
        let svc = self
            .set
            .resolve(&load::socket_service(&u, c.service.as_deref()))
            .to_string();
        if !c.accept {
            if self.engine.has_job(&svc) {
                return;
            }
            self.logs
                .push(sock, &format!("incoming traffic; activating {svc}"));
            if let Err(e) = self.start_unit(&svc, false) {
                self.logs.push(sock, &format!("cannot activate {svc}: {e}"));
            }
            return;
        }
        // Accept=yes: one instance per connection, the connection as fd 3.
        // SAFETY: accept4 on our listening fd.
        let conn = unsafe {
            libc::accept4(
                fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if conn < 0 {
            return;
        }
        // SAFETY: a fresh fd from accept4.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        self.counter += 1;
        let stem = sock.trim_end_matches(".socket");
        let inst = format!("{stem}@{}.service", self.counter);
        let opts = LoadOptions {
            unit_dirs: self.cfg.unit_dirs.clone(),
            specifier_dirs: self.cfg.specifier_dirs(),
            links_only: !self.cfg.install_enables,
            roots: None,
        };
        let Some((unit, diags)) = load::instantiate(&opts, &self.set, &inst) else {
            self.logs
                .push(sock, &format!("no template {stem}@.service for Accept=yes"));
            return;
        };
        for d in diags {
            self.say(&d.to_string());
        }
        self.set.units.insert(inst.clone(), unit);
        self.engine.rebuild(&self.set);
        let rt = self.rt.entry(inst.clone()).or_default();
        rt.conn_fd = Some(conn);
        rt.transient = true;
        let _ = self.start_unit(&inst, false);
    }

    // ---------------------------------------------------------------- mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{Listen, SocketConfig};

    fn local_port(fd: &OwnedFd) -> u16 {
        // SAFETY: getsockname into a zeroed sockaddr_in of the right size.
        unsafe {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in).cast(),
                &mut len,
            );
            u16::from_be(sa.sin_port)
        }
    }

    #[test]
    fn listeners_tcp_udp_unix() {
        let cfg = SocketConfig::default();
        let tcp = open_listener(
            &Listen {
                kind: ListenKind::Stream,
                address: "127.0.0.1:0".into(),
            },
            &cfg,
        )
        .unwrap();
        let port = local_port(&tcp);
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
        let udp = open_listener(
            &Listen {
                kind: ListenKind::Datagram,
                address: "127.0.0.1:0".into(),
            },
            &cfg,
        )
        .unwrap();
        let uport = local_port(&udp);
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"ping", ("127.0.0.1", uport)).unwrap();
        let mut buf = [0u8; 8];
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: recv into a stack buffer.
        let n = unsafe { libc::recv(udp.as_raw_fd(), buf.as_mut_ptr().cast(), 8, 0) };
        assert_eq!(&buf[..n as usize], b"ping");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/sock");
        let _u = open_listener(
            &Listen {
                kind: ListenKind::SeqPacket,
                address: path.display().to_string(),
            },
            &cfg,
        )
        .unwrap();
        assert!(path.exists());
        let fifo = dir.path().join("f/fifo");
        let f = open_listener(
            &Listen {
                kind: ListenKind::Fifo,
                address: fifo.display().to_string(),
            },
            &SocketConfig {
                socket_mode: Some(0o600),
                ..SocketConfig::default()
            },
        )
        .unwrap();
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let meta = std::fs::metadata(&fifo).unwrap();
        assert!(meta.file_type().is_fifo());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .and_then(|mut w| std::io::Write::write_all(&mut w, b"key"))
            .unwrap();
        let mut buf = [0u8; 8];
        // SAFETY: read into a stack buffer.
        let n = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        assert_eq!(&buf[..n as usize], b"key");
        // Opened again (a restart of the socket unit), the pipe is kept.
        drop(f);
        open_listener(
            &Listen {
                kind: ListenKind::Fifo,
                address: fifo.display().to_string(),
            },
            &SocketConfig::default(),
        )
        .unwrap();
        let name = format!("@b8g-test-{}", std::process::id());
        let _a = open_listener(
            &Listen {
                kind: ListenKind::Stream,
                address: name,
            },
            &cfg,
        )
        .unwrap();
    }
}
