//! The sandbox set-up program and its interpreter in the cloned child.
//!
//! The parent turns a build into a flat list of [`Step`]s, allocating every
//! C string and buffer up front. The child, created by `clone` from a possibly
//! multi-threaded process, may only make async-signal-safe calls: it walks the
//! list issuing raw syscalls and never allocates, locks or unwinds. When a step
//! fails it writes `(step index, errno)` to the error pipe and exits; the parent
//! turns the index back into a description such as "mount proc onto /x/root/proc".
//! No helper binary is executed: the last step is the builder's own `execve`.

use std::ffi::CString;
use std::os::fd::RawFd;

/// `struct mount_attr` from `<linux/mount.h>` (not in the libc crate).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `struct ifreq` reduced to what `SIOCSIFFLAGS` reads (name, flags), padded to its full size.
#[repr(C)]
pub(crate) struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl IfreqFlags {
    pub(crate) fn loopback_up() -> Self {
        let mut name = [0u8; libc::IFNAMSIZ];
        name[..2].copy_from_slice(b"lo");
        IfreqFlags {
            name,
            flags: (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short,
            _pad: [0; 22],
        }
    }
}

/// One set-up action, executed in order by the child.
pub(crate) enum Step {
    /// `open(path, O_WRONLY [| O_CREAT | O_EXCL])` then one `write`.
    WriteFile {
        path: CString,
        data: Vec<u8>,
        create: bool,
    },
    /// `mount(2)`.
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// Make an existing mount read-only, nosuid and nodev without touching its
    /// other (possibly locked) flags, via `mount_setattr(2)`.
    ReadOnly { target: CString },
    /// `mkdir`, tolerating an existing directory.
    Mkdir { path: CString, mode: libc::mode_t },
    /// Create an empty regular file to bind-mount a file onto.
    Touch { path: CString },
    /// `symlink(target, path)`.
    Symlink { target: CString, path: CString },
    /// `chdir(path)` then `pivot_root(".", ".")`, detach the old root, `chdir("/")`.
    PivotRoot { new_root: CString },
    /// `sethostname` and `setdomainname`.
    Names { host: Vec<u8>, domain: Vec<u8> },
    /// Bring the loopback interface of the new network namespace up.
    LoopbackUp { req: IfreqFlags },
    /// Block until the parent has written our uid and gid maps: read one byte
    /// (EOF means the parent gave up).
    WaitParent { fd: RawFd, close: RawFd },
    /// Drop supplementary groups and become `uid`/`gid` of the new user
    /// namespace (used when the parent is root: the builder must not keep the
    /// host's uid 0). Leaving uid 0 clears all capabilities, so this comes last.
    SetIds { uid: u32, gid: u32 },
}

/// What the child does after the steps: wire stdio and exec the builder.
pub(crate) struct Exec {
    pub(crate) dev_null: CString,
    pub(crate) log_fd: RawFd,
    pub(crate) cwd: CString,
    pub(crate) path: CString,
    /// NULL-terminated, pointing into `_argv`.
    pub(crate) argv: Vec<*const libc::c_char>,
    /// NULL-terminated, pointing into `_envp`.
    pub(crate) envp: Vec<*const libc::c_char>,
    pub(crate) _argv: Vec<CString>,
    pub(crate) _envp: Vec<CString>,
}

// SAFETY: the raw pointers point into the CStrings owned by the same struct,
// which are never mutated; moving the struct between threads keeps them valid.
unsafe impl Send for Exec {}

impl Exec {
    pub(crate) fn new(
        dev_null: CString,
        log_fd: RawFd,
        cwd: CString,
        path: CString,
        args: Vec<CString>,
        env: Vec<CString>,
    ) -> Self {
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        Exec {
            dev_null,
            log_fd,
            cwd,
            path,
            argv,
            envp,
            _argv: args,
            _envp: env,
        }
    }
}

/// Indices past the step list that name the exec stage's own actions in error reports.
pub(crate) const EXEC_STDIO: u32 = 0x1000_0000;
pub(crate) const EXEC_PRIVS: u32 = 0x1000_0001;
pub(crate) const EXEC_CHDIR: u32 = 0x1000_0002;
pub(crate) const EXEC_EXECVE: u32 = 0x1000_0003;

/// Describes a step for error messages (computed in the parent, lazily).
pub(crate) fn describe(step: &Step) -> String {
    let s = |c: &CString| c.to_string_lossy().into_owned();
    match step {
        Step::WriteFile { path, .. } => format!("write {}", s(path)),
        Step::Mount {
            source,
            target,
            fstype,
            ..
        } => match (source, fstype) {
            (Some(src), None) => format!("bind-mount {} onto {}", s(src), s(target)),
            (_, Some(fs)) => format!("mount {} onto {}", s(fs), s(target)),
            (None, None) => format!("change mount flags of {}", s(target)),
        },
        Step::ReadOnly { target } => format!("make {} read-only", s(target)),
        Step::Mkdir { path, .. } => format!("create directory {}", s(path)),
        Step::Touch { path } => format!("create mount point {}", s(path)),
        Step::Symlink { target, path } => format!("symlink {} -> {}", s(path), s(target)),
        Step::PivotRoot { new_root } => format!("pivot_root into {}", s(new_root)),
        Step::Names { .. } => "set host and domain name".to_owned(),
        Step::LoopbackUp { .. } => "bring up the loopback interface".to_owned(),
        Step::WaitParent { .. } => "wait for the uid and gid maps".to_owned(),
        Step::SetIds { uid, gid } => format!("switch to uid {uid}, gid {gid}"),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reports a failure to the parent and exits. Never returns.
///
/// # Safety
/// Only async-signal-safe calls; `err_fd` is the write end of the error pipe.
unsafe fn fail(err_fd: RawFd, index: u32, errno: i32) -> ! {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&index.to_ne_bytes());
    msg[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: writes from a stack buffer; `_exit` is async-signal-safe.
    unsafe {
        libc::write(err_fd, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

fn opt_ptr(c: &Option<CString>) -> *const libc::c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// Runs one step; returns the errno on failure.
///
/// # Safety
/// Must only be called in the freshly cloned child; performs raw syscalls only.
unsafe fn run_step(step: &Step) -> Result<(), i32> {
    // SAFETY (whole function): every pointer comes from a CString or buffer owned by
    // the step, which outlives the call; no allocation happens here.
    unsafe {
        let rc = match step {
            Step::WriteFile { path, data, create } => {
                let flags = if *create {
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC
                } else {
                    libc::O_WRONLY | libc::O_CLOEXEC
                };
                let fd = libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint);
                if fd < 0 {
                    return Err(errno());
                }
                let n = libc::write(fd, data.as_ptr().cast(), data.len());
                let e = errno();
                libc::close(fd);
                if n != data.len() as isize {
                    return Err(if n < 0 { e } else { libc::EIO });
                }
                0
            }
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => libc::mount(
                opt_ptr(source),
                target.as_ptr(),
                opt_ptr(fstype),
                *flags,
                opt_ptr(data).cast(),
            ),
            Step::ReadOnly { target } => {
                let attr = MountAttr {
                    attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                    attr_clr: 0,
                    propagation: 0,
                    userns_fd: 0,
                };
                libc::syscall(
                    libc::SYS_mount_setattr,
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    0 as libc::c_uint,
                    &attr as *const MountAttr,
                    std::mem::size_of::<MountAttr>(),
                ) as libc::c_int
            }
            Step::Mkdir { path, mode } => {
                if libc::mkdir(path.as_ptr(), *mode) != 0 && errno() != libc::EEXIST {
                    -1
                } else {
                    0
                }
            }
            Step::Touch { path } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o444 as libc::c_uint,
                );
                if fd < 0 {
                    -1
                } else {
                    libc::close(fd);
                    0
                }
            }
            Step::Symlink { target, path } => libc::symlink(target.as_ptr(), path.as_ptr()),
            Step::PivotRoot { new_root } => {
                let dot = c".".as_ptr();
                if libc::chdir(new_root.as_ptr()) != 0
                    || libc::syscall(libc::SYS_pivot_root, dot, dot) != 0
                    || libc::umount2(dot, libc::MNT_DETACH) != 0
                    || libc::chdir(c"/".as_ptr()) != 0
                {
                    -1
                } else {
                    0
                }
            }
            Step::Names { host, domain } => {
                if libc::sethostname(host.as_ptr().cast(), host.len()) != 0
                    || libc::setdomainname(domain.as_ptr().cast(), domain.len()) != 0
                {
                    -1
                } else {
                    0
                }
            }
            Step::WaitParent { fd, close } => {
                // Our copy of the write end goes first: should the parent die
                // before releasing us, the read then ends (EOF) instead of
                // waiting forever with the parent's locks still open here.
                libc::close(*close);
                let mut b = 0u8;
                let n = loop {
                    let n = libc::read(*fd, (&mut b as *mut u8).cast(), 1);
                    if n >= 0 || errno() != libc::EINTR {
                        break n;
                    }
                };
                if n == 1 {
                    0
                } else {
                    return Err(if n < 0 { errno() } else { libc::EPIPE });
                }
            }
            Step::SetIds { uid, gid } => {
                // Raw syscalls: glibc's wrappers would try to change the ids of
                // every thread of the parent process (which this clone does not
                // have) and wait forever for them.
                if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, *gid, *gid, *gid) != 0
                    || libc::syscall(libc::SYS_setresuid, *uid, *uid, *uid) != 0
                {
                    -1
                } else {
                    0
                }
            }
            Step::LoopbackUp { req } => {
                let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                if sock < 0 {
                    -1
                } else {
                    let rc = libc::ioctl(sock, libc::SIOCSIFFLAGS, req as *const IfreqFlags);
                    let e = errno();
                    libc::close(sock);
                    if rc != 0 {
                        return Err(e);
                    }
                    0
                }
            }
        };
        if rc != 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }
}

/// The child's whole life: run the steps, wire stdio, exec the builder.
///
/// # Safety
/// Must only be called in a child created by `clone`/`fork`; never returns.
pub(crate) unsafe fn child_main(steps: &[Step], exec: &Exec, err_fd: RawFd) -> ! {
    // SAFETY (whole function): raw syscalls on buffers prepared by the parent.
    unsafe {
        // If the thread that started the build dies, the sandbox dies with it
        // (killing PID 1 of the namespace takes every process in it along).
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            fail(err_fd, EXEC_PRIVS, errno());
        }
        for (i, step) in steps.iter().enumerate() {
            if let Err(e) = run_step(step) {
                fail(err_fd, i as u32, e);
            }
        }
        // Changing ids (SetIds) clears the parent-death signal: set it again.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            fail(err_fd, EXEC_PRIVS, errno());
        }

        // A session of its own: the builder has no controlling terminal, so
        // it cannot reach the terminal b8g runs in (no /dev/tty, no TIOCSTI
        // keystrokes pushed into the user's shell, no SIGHUP/SIGTTOU games).
        // Never fails here: the clone's pid is not a process group id.
        if libc::setsid() < 0 {
            fail(err_fd, EXEC_PRIVS, errno());
        }

        // stdin from /dev/null, stdout and stderr into the log pipe.
        let null = libc::open(exec.dev_null.as_ptr(), libc::O_RDONLY);
        if null < 0
            || libc::dup2(null, 0) < 0
            || libc::dup2(exec.log_fd, 1) < 0
            || libc::dup2(exec.log_fd, 2) < 0
        {
            fail(err_fd, EXEC_STDIO, errno());
        }
        // Everything else the parent process had open (other builds' pipes, the
        // store database) must not reach the builder: mark it close-on-exec.
        // The error pipe is already close-on-exec, so its EOF tells the parent exec worked.
        if libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            fail(err_fd, EXEC_STDIO, errno());
        }

        // Signals: the parent (a Rust program) ignores SIGPIPE, and ignored
        // dispositions and the mask survive exec; the builder expects defaults.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0
            || libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        {
            fail(err_fd, EXEC_PRIVS, errno());
        }

        if libc::chdir(exec.cwd.as_ptr()) != 0 {
            fail(err_fd, EXEC_CHDIR, errno());
        }
        // ETXTBSY: another thread of the parent process may have been
        // writing this file (e.g. adding it to the store) when some other
        // sandbox was cloned; that clone holds the descriptor until its own
        // exec, a few milliseconds. Retry for up to a second.
        for _ in 0..100 {
            libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
            if errno() != libc::ETXTBSY {
                break;
            }
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        fail(err_fd, EXEC_EXECVE, errno())
    }
}
