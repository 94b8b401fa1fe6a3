//! Regression test: a build must not type into the terminal b8g runs in.
//!
//! The attack (found for real): the sandbox bind-mounted `/dev/tty` and the
//! builder stayed in b8g's session, so it could open the user's terminal and
//! push a command into the shell with `TIOCSTI`; the shell ran it as root.
//!
//! The test runs a build the way a user does: from a process whose controlling
//! terminal and standard descriptors are a pseudo-terminal we opened. It
//! re-runs this test binary (the ignored helper below) as a session leader on
//! the pty's slave side; the builder, a small static C program, tries
//! `TIOCSTI` on fds 0, 1, 2 and on `/dev/tty`. Nothing may arrive on the
//! master side, and the builder must report no controlling terminal.
//! Needs gcc with a static libc (Debian libc6-dev) and busybox-static.

mod sandbox_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use b8g_builder::sandbox::{BuildSpec, CancelToken, MemoryLog, Sandbox, SandboxConfig};
use sandbox_support::{Fixture, STORE};

const MARKER: &str = "B8G-INJECTED";
const HELPER: &str = "pty_child_runs_a_build_that_tries_tiocsti";
const OUT: &str = "1b9p4h6fhmr1cxhlx8sfbsg1bjq0x3qm-test-out";

/// What the parent passes to the helper (paths, joined by NUL-free newlines).
struct Plan {
    builder: PathBuf,
    input_source: PathBuf,
    input_target: PathBuf,
    scratch: PathBuf,
}

impl Plan {
    fn encode(&self) -> String {
        [
            &self.builder,
            &self.input_source,
            &self.input_target,
            &self.scratch,
        ]
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("\n")
    }

    fn decode(s: &str) -> Plan {
        let p: Vec<PathBuf> = s.split('\n').map(PathBuf::from).collect();
        assert_eq!(p.len(), 4, "malformed plan {s:?}");
        Plan {
            builder: p[0].clone(),
            input_source: p[1].clone(),
            input_target: p[2].clone(),
            scratch: p[3].clone(),
        }
    }
}

fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: out-pointers to two ints; name, termios and winsize may be NULL.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and belong to nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn tiocsti_from_a_build_under_a_pty_reaches_nothing() {
    let fx = Fixture::new();
    let (builder, input) = fx.add_c_program(
        "2c4j5pzl4vw2mb9gn0a6ryx2nxr3kyq4-tiocsti",
        "tiocsti",
        include_str!("sandbox_support/tiocsti.c"),
    );
    let plan = Plan {
        builder,
        input_source: input.source,
        input_target: input.target,
        scratch: fx.scratch(),
    };
    let (master, slave) = openpty();
    let stdio = || Stdio::from(slave.try_clone().expect("dup pty slave"));
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        HELPER,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("B8G_TTY_PLAN", plan.encode())
    .stdin(stdio())
    .stdout(stdio())
    .stderr(stdio());
    // SAFETY: setsid and ioctl are async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            // Like a login shell: lead a session whose terminal is the pty.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start the helper under the pty");
    drop(cmd);
    drop(slave);
    // Read the master until every slave descriptor is closed (EIO).
    let mut seen = Vec::new();
    let mut master = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let status = child.wait().expect("wait for the helper");
    let seen = String::from_utf8_lossy(&seen);
    assert!(status.success(), "the helper failed: {status}\n{seen}");
    assert!(
        seen.contains(&format!("test {HELPER} ... ok")),
        "the helper did not run its build:\n{seen}"
    );
    assert!(
        !seen.contains(MARKER),
        "keystrokes from the build arrived on the terminal:\n{seen}"
    );

    let report = std::fs::read_to_string(plan.scratch.join("store").join(OUT))
        .expect("the builder's report");
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines.contains(&"tty_nr=0"),
        "the builder had a controlling terminal:\n{report}"
    );
    for want in ["fd0=refused", "fd1=refused", "fd2=refused"] {
        assert!(lines.contains(&want), "missing {want} in:\n{report}");
    }
    let devtty = lines
        .iter()
        .find(|l| l.starts_with("devtty="))
        .expect("a /dev/tty line");
    assert!(
        !devtty.contains("INJECTED") && *devtty != "devtty=refused",
        "/dev/tty could be opened in the sandbox: {devtty}"
    );
    // The builder led a session of its own (it is PID 1 of its namespace).
    assert!(
        lines.contains(&"sid=1 pid=1"),
        "no session of its own:\n{report}"
    );
}

/// Run by the test above as a session leader on the pty; fails when run alone.
#[test]
#[ignore = "helper: run by tiocsti_from_a_build_under_a_pty_reaches_nothing under a pseudo-terminal"]
fn pty_child_runs_a_build_that_tries_tiocsti() {
    let plan = Plan::decode(
        &std::env::var("B8G_TTY_PLAN")
            .expect("run by tiocsti_from_a_build_under_a_pty_reaches_nothing"),
    );
    // The set-up is real: this process has the pty as its controlling terminal.
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let after = &stat[stat.rfind(')').expect("stat has a comm field") + 2..];
    let tty_nr: i64 = after
        .split(' ')
        .nth(4)
        .and_then(|f| f.parse().ok())
        .expect("tty_nr field");
    assert_ne!(tty_nr, 0, "the helper has no controlling terminal");

    let sandbox = Sandbox::new(SandboxConfig {
        store_dir: STORE.into(),
        ..Default::default()
    })
    .expect("sandbox");
    let spec = BuildSpec {
        name: "tiocsti".into(),
        builder: plan.builder.clone(),
        args: Vec::new(),
        env: BTreeMap::new(),
        inputs: vec![b8g_builder::sandbox::BindMount::new(
            &plan.input_source,
            &plan.input_target,
        )],
        outputs: BTreeMap::from([("out".to_owned(), Path::new(STORE).join(OUT))]),
        network: false,
    };
    let mut log = MemoryLog::default();
    let cancel = CancelToken::new().expect("eventfd");
    sandbox
        .run(&spec, &plan.scratch, &mut log, &cancel)
        .unwrap_or_else(|e| panic!("build failed: {e}; log {:?}", log.lines));

    // Nothing was queued as input on our terminal either.
    // SAFETY: fcntl and read on our own standard input, into a stack buffer.
    unsafe {
        let flags = libc::fcntl(0, libc::F_GETFL);
        assert!(flags >= 0);
        assert_eq!(libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
        let mut b = [0u8; 64];
        let n = libc::read(std::io::stdin().as_raw_fd(), b.as_mut_ptr().cast(), b.len());
        assert!(
            n < 0,
            "input was injected into the terminal: {:?}",
            String::from_utf8_lossy(&b[..n.max(0) as usize])
        );
    }
}
