//! Descriptors that arrive with a datagram (SCM_RIGHTS) from anyone who may write to
//! PID 1's sockets. Closing the last reference to a file on FUSE waits for its daemon's
//! answer, and a TCP socket with a long SO_LINGER waits out the linger: either would
//! hang PID 1 if it closed them itself. Pipes and Unix sockets close at once; anything
//! else is closed in a short-lived child process.

use std::os::fd::{AsRawFd, OwnedFd};

/// Linux 6.16's SO_PASSRIGHTS: with it off, the kernel refuses descriptors sent to
/// the socket outright.
const SO_PASSRIGHTS: libc::c_int = 83;

/// Asks the kernel to refuse descriptors on `fd`; older kernels do not know the option
/// (their descriptors go through [`release`]).
pub fn refuse_passed_fds(fd: i32) {
    let zero: libc::c_int = 0;
    // SAFETY: setsockopt with a valid int option on our socket.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_PASSRIGHTS,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Whether closing `fd` cannot block: a pipe, a Unix socket, an eventfd/signalfd/…
/// (anonymous inodes).
fn closes_at_once(fd: i32) -> bool {
    // SAFETY: fstat and getsockopt into zeroed locals on a descriptor we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) < 0 {
            return true;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => true,
            libc::S_IFSOCK => {
                let mut domain: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_DOMAIN,
                    (&mut domain as *mut libc::c_int).cast(),
                    &mut len,
                ) == 0
                    && domain == libc::AF_UNIX
            }
            // Anonymous inodes (eventfd, signalfd, timerfd, pidfd) have no file type.
            0 => true,
            _ => false,
        }
    }
}

/// Closes descriptors received from an untrusted sender without ever blocking PID 1.
pub fn release(fds: Vec<OwnedFd>) {
    let (quick, slow): (Vec<OwnedFd>, Vec<OwnedFd>) =
        fds.into_iter().partition(|f| closes_at_once(f.as_raw_fd()));
    drop(quick);
    if slow.is_empty() {
        return;
    }
    let keep: Vec<i32> = slow.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: fork of a single-threaded process; the child only closes descriptors and
    // exits. The parent's copies are then not the last references, so dropping them
    // returns at once; the child (reaped like any orphan) does the waiting.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            // Everything but these goes first, so a child stuck in close() holds no
            // socket or file of PID 1's.
            let mut fd = 0;
            while fd < 65_536 {
                if !keep.contains(&fd) {
                    libc::close(fd);
                }
                fd += 1;
                if fd > 1024 && keep.iter().all(|k| *k < fd) {
                    libc::syscall(libc::SYS_close_range, fd as libc::c_uint, !0u32, 0);
                    break;
                }
            }
            for k in &keep {
                libc::close(*k);
            }
            libc::_exit(0);
        }
    }
    drop(slow);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_and_unix_sockets_close_in_place_other_files_elsewhere() {
        let (r, w) = std::io::pipe().unwrap();
        assert!(closes_at_once(r.as_raw_fd()) && closes_at_once(w.as_raw_fd()));
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(closes_at_once(a.as_raw_fd()));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!closes_at_once(tcp.as_raw_fd()));
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(!closes_at_once(f.as_raw_fd()));
        // release() returns whatever the descriptors are.
        release(vec![OwnedFd::from(r), OwnedFd::from(f), OwnedFd::from(tcp)]);
    }
}
