//! Logging as journald does it: `/dev/log`, priorities, forwarding to a syslog
//! daemon, rate limits, and journalctl's filters.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::harness::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn syslog_messages_and_output_priorities_reach_the_units_log_and_the_syslog_daemon() {
    let mut s = System::new(&[
        (
            "talker.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/usr/bin/logger -u %t/systemd/journal/dev-log -t talk -p daemon.warning hello from talker\n",
        ),
        (
            "printer.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nSyslogIdentifier=prn\n\
             ExecStart=/bin/sh -c 'echo \"<3>disk on fire\"; echo plain words'\n",
        ),
        (
            "quiet.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nSyslogLevelPrefix=no\nSyslogLevel=notice\n\
             SyslogFacility=local3\nExecStart=/bin/echo '<2>not a prefix here'\n",
        ),
    ]);
    s.boot();
    s.wait_ready();
    // A syslog daemon's socket where journald forwards (rsyslog's syslog.socket).
    let forward = UnixDatagram::bind(s.path("run/systemd/journal/syslog")).expect("bind");
    forward
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for u in ["talker", "printer", "quiet"] {
        s.ctl_ok(&["start", u]);
    }
    s.wait_for(
        |s| s.log("talker.service").contains("hello from talker"),
        "the syslog message in talker's log",
    );
    s.wait_for(
        |s| s.log("quiet.service").contains("not a prefix"),
        "quiet's line",
    );

    // Attributed to the sender's unit by its credentials, tag and priority kept.
    let o = s.journalctl(&["-u", "talker", "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let entries: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let hello = entries
        .iter()
        .find(|e| e["MESSAGE"] == "hello from talker")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(hello["PRIORITY"], "4");
    assert_eq!(hello["SYSLOG_IDENTIFIER"], "talk");
    assert_eq!(hello["_SYSTEMD_UNIT"], "talker.service");
    // The kernel's word beside the sender's: _PID and _UID (root in this namespace).
    assert_eq!(hello["_UID"], "0");
    assert!(hello["_PID"]
        .as_str()
        .is_some_and(|p| p.parse::<i32>().is_ok()));
    let by_uid = text(
        &s.journalctl(&["_UID=0", "SYSLOG_IDENTIFIER=talk", "-o", "cat"])
            .stdout,
    );
    assert_eq!(by_uid.trim(), "hello from talker");

    // `-p err`: the `<3>` line and nothing of lower importance.
    let errs = text(&s.journalctl(&["-p", "err", "-o", "cat"]).stdout);
    assert!(errs.lines().any(|l| l == "disk on fire"), "{errs}");
    assert!(
        !errs.contains("plain words") && !errs.contains("hello"),
        "{errs}"
    );
    // SyslogLevelPrefix=no keeps `<2>` as text, at SyslogLevel=.
    let notice = text(
        &s.journalctl(&["-u", "quiet", "-p", "notice..notice", "-o", "cat"])
            .stdout,
    );
    assert!(notice.contains("<2>not a prefix here"), "{notice}");
    // -t: by identifier; the short format tags lines with it.
    let talk = text(&s.journalctl(&["-t", "prn"]).stdout);
    assert!(
        talk.contains(" prn: disk on fire") && talk.contains(" prn: plain words"),
        "{talk}"
    );
    assert!(!talk.contains("hello"), "{talk}");
    // Times: everything is newer than a minute ago, nothing older.
    let recent = text(
        &s.journalctl(&["-u", "printer", "--since", "1 min ago", "-o", "cat"])
            .stdout,
    );
    assert!(recent.contains("plain words"), "{recent}");
    let old = text(
        &s.journalctl(&["-u", "printer", "--until", "-1min", "-o", "cat"])
            .stdout,
    );
    assert_eq!(old.trim(), "-- No entries --");

    // Forwarded: the datagram as it came, and output lines with a syslog header
    // (facility daemon unless SyslogFacility= says otherwise).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 4 {
        let Ok(k) = forward.recv(&mut buf) else { break };
        got.push(text(&buf[..k]));
    }
    let has = |prefix: &str, tail: &str| {
        got.iter()
            .any(|g| g.starts_with(prefix) && g.ends_with(tail))
    };
    assert!(has("<28>", "talk: hello from talker"), "{got:?}");
    assert!(has("<27>", "]: disk on fire"), "{got:?}");
    assert!(got.iter().any(|g| g.contains(" prn[")), "{got:?}");
    assert!(has("<157>", "]: <2>not a prefix here"), "{got:?}");
    s.poweroff();
}

#[test]
fn a_flooding_service_is_rate_limited_and_the_drop_is_reported() {
    let mut s = System::new(&[(
        "flood.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart=/bin/sh -c 'i=0; while [ $$i -lt 100 ]; do echo line$$i; i=$$((i+1)); done; sleep 1.5; echo after'\n",
    )]);
    s.boot_with(&[
        "--log-rate-limit-interval",
        "1s",
        "--log-rate-limit-burst",
        "20",
    ]);
    s.wait_ready();
    s.ctl_ok(&["start", "flood"]);
    s.wait_for(
        |s| s.log("flood.service").contains("after"),
        "the line after the pause",
    );
    let o = text(
        &s.journalctl(&["-u", "flood", "-o", "cat", "-n", "all"])
            .stdout,
    );
    let lines: Vec<&str> = o.lines().filter(|l| l.starts_with("line")).collect();
    assert_eq!(lines.len(), 20, "{o}");
    assert!(
        o.contains("Suppressed 80 messages from flood.service"),
        "{o}"
    );
    s.poweroff();
}

/// Sends `text` to the socket at `path` with `fds` attached (SCM_RIGHTS).
fn send_with_fds(path: &std::path::Path, text: &[u8], fds: &[i32]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let sock = UnixDatagram::unbound().unwrap();
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: plain sendmsg with buffers that outlive the call.
    unsafe {
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as u16;
        for (i, b) in c.as_bytes().iter().enumerate() {
            sa.sun_path[i] = *b as libc::c_char;
        }
        let mut iov = libc::iovec {
            iov_base: text.as_ptr() as *mut _,
            iov_len: text.len(),
        };
        let space = libc::CMSG_SPACE((fds.len() * 4) as u32) as usize;
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut sa as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_un>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cm = libc::CMSG_FIRSTHDR(&msg);
        (*cm).cmsg_level = libc::SOL_SOCKET;
        (*cm).cmsg_type = libc::SCM_RIGHTS;
        (*cm).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cm).cast(), fds.len());
        if libc::sendmsg(sock.as_raw_fd(), &msg, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn descriptors_sent_to_dev_log_are_closed_without_stopping_pid_1() {
    use std::os::fd::AsRawFd;
    let mut s = System::new(&[]);
    s.boot();
    s.wait_ready();
    // A pipe whose write end only PID 1 (then its closer) holds, a file and a TCP
    // socket with a long linger whose peer never reads: the last two close elsewhere.
    let (r, w) = std::io::pipe().unwrap();
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 600,
    };
    // SAFETY: setsockopt with a valid struct.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
    let fds = [w.as_raw_fd(), file.as_raw_fd(), tcp.as_raw_fd()];
    // /dev/log: Linux 6.16 and later refuse descriptors there outright (SO_PASSRIGHTS
    // off); older kernels deliver them and PID 1 closes them elsewhere.
    let path = s.path("run/systemd/journal/dev-log");
    match send_with_fds(&path, b"<13>fdtest: with descriptors", &fds) {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        Ok(()) => s.wait_for(
            |s| {
                String::from_utf8_lossy(&s.journalctl(&["-t", "fdtest", "-o", "cat"]).stdout)
                    .contains("with descriptors")
            },
            "the message",
        ),
    }
    // The notify socket takes descriptors (BARRIER=1); these are not barriers.
    send_with_fds(&s.path("run/b8g/notify"), b"READY=1", &fds).expect("notify takes fds");
    drop(w);
    drop(tcp);
    let started = std::time::Instant::now();
    // PID 1 answers at once, and the pipe's write end was closed: reading ends.
    s.ctl_ok(&["list-units"]);
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut &r, &mut b).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    s.poweroff();
}
