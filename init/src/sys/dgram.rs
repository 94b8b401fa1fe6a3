//! PID 1's datagram sockets that every process may write to (sd_notify, /dev/log):
//! bound world-writable with the kernel's credentials attached to each datagram, and
//! read without blocking.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Binds a datagram socket at `path` (replacing a stale one), nonblocking, with
/// SO_PASSCRED, mode 0666: senders are told apart by kernel credentials only.
pub fn bind_world_writable(path: &Path) -> std::io::Result<OwnedFd> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let s = std::os::unix::net::UnixDatagram::bind(path)?;
    s.set_nonblocking(true)?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option on our socket.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
    Ok(OwnedFd::from(s))
}

/// One datagram: its length in `buf`, the sender's credentials as the kernel gives
/// them, and any descriptors that came with it (to be handed to
/// [`super::fds::release`]).
pub struct Datagram {
    pub len: usize,
    pub sender: Option<libc::ucred>,
    pub fds: Vec<OwnedFd>,
}

/// Receives one datagram into `buf` without waiting; None when there is none. A
/// longer datagram is cut to `buf`.
pub fn receive(fd: RawFd, buf: &mut [u8]) -> Option<Datagram> {
    let mut cbuf = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr filled with valid buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: recvmsg on our socket with the buffers above; passed descriptors arrive
    // close-on-exec.
    let k = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    if k < 0 {
        return None;
    }
    let mut d = Datagram {
        len: (k as usize).min(buf.len()),
        sender: None,
        fds: Vec::new(),
    };
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET {
                if (*c).cmsg_type == libc::SCM_CREDENTIALS {
                    d.sender = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast()));
                } else if (*c).cmsg_type == libc::SCM_RIGHTS {
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    for i in 0..len / 4 {
                        let f: i32 =
                            std::ptr::read_unaligned((libc::CMSG_DATA(c) as *const i32).add(i));
                        d.fds.push(OwnedFd::from_raw_fd(f));
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some(d)
}
