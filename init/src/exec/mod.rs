//! Spawning one process of a unit: standard streams, passed file descriptors, the
//! file-system sandbox (`crate::namespace`) and the per-process settings of `[Service]`
//! (limits, umask, nice, capabilities, chroot, credentials). `environment.rs` expands
//! variables in command lines; `users.rs` looks users and groups up.
//! Exec failures come back through a close-on-exec pipe, so they are reported with
//! their cause instead of as a mysterious exit status 127.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::unit::{ExecCommand, ExecContext, Rlimit, StdIo};

mod environment;
mod users;

pub use self::environment::*;
pub use self::users::*;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}")]
    Prepare(String),
    #[error("{step}: {source}")]
    Child {
        step: String,
        source: std::io::Error,
    },
    #[error("fork: {0}")]
    Fork(std::io::Error),
}

/// The kernel's ceiling on open files (`fs.nr_open`), which `RLIMIT_NOFILE` may not
/// exceed, not even as infinity.
pub fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// The limits to set: `LimitNOFILE=` (infinity included) is clamped to `nr_open`, as
/// systemd does; setting more fails with EPERM.
fn effective_limits(limits: &[Rlimit], nr_open: u64) -> Vec<Rlimit> {
    limits
        .iter()
        .map(|l| match l.resource == libc::RLIMIT_NOFILE as i32 {
            true => Rlimit {
                soft: l.soft.min(nr_open),
                hard: l.hard.min(nr_open),
                ..*l
            },
            false => *l,
        })
        .collect()
}

/// What the supervisor hands to [`spawn`].
pub struct SpawnSpec<'a> {
    pub cmd: &'a ExecCommand,
    pub ctx: &'a ExecContext,
    pub env: Vec<(String, String)>,
    /// Fds to pass as 3, 4, … (`LISTEN_FDS`).
    pub pass_fds: Vec<RawFd>,
    /// Extra (target fd, source fd) pairs, e.g. the s6 notification fd.
    pub extra_fds: Vec<(RawFd, RawFd)>,
    /// Write end of the unit's log pipe.
    pub log_fd: RawFd,
    pub console: Option<&'a Path>,
    pub etc_dir: &'a Path,
    /// For Accept=yes instances with StandardInput=socket: stdin/stdout are this fd.
    pub socket_stdio: Option<RawFd>,
    /// `cgroup.procs` of the unit's cgroup (cgroup v2), joined before exec.
    pub cgroup_procs: Option<CString>,
    /// The unit's RuntimeDirectory=, StateDirectory= and the like: writable in its
    /// sandbox whatever ProtectSystem= says.
    pub own_dirs: Vec<std::path::PathBuf>,
    /// The manager's runtime directory (`/run`).
    pub run_dir: &'a Path,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn find_exe(name: &str, env: &[(String, String)]) -> Result<String, String> {
    if name.starts_with('/') {
        return Ok(name.to_string());
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p.display().to_string());
        }
    }
    Err(format!("executable {name:?} not found in PATH"))
}

fn cstr(s: &str) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::Prepare(format!("string {s:?} contains a NUL byte")))
}

fn open_stdio(io: &StdIo, input: bool, spec: &SpawnSpec) -> Result<OwnedFd, SpawnError> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;
    let open = |p: &Path, o: &mut OpenOptions| -> Result<OwnedFd, SpawnError> {
        o.open(p)
            .map(OwnedFd::from)
            .map_err(|e| SpawnError::Prepare(format!("cannot open {}: {e}", p.display())))
    };
    match io {
        StdIo::Null => open(
            Path::new("/dev/null"),
            OpenOptions::new().read(true).write(true),
        ),
        StdIo::Tty => {
            let p = spec
                .ctx
                .tty_path
                .as_deref()
                .or(spec.console)
                .unwrap_or(Path::new("/dev/console"));
            // O_NOCTTY: PID 1 (a session leader without a terminal) would otherwise make
            // the tty its own controlling terminal, and the service could not take it.
            open(
                p,
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOCTTY),
            )
        }
        StdIo::File(p) if input => open(p, OpenOptions::new().read(true)),
        StdIo::File(p) => open(p, OpenOptions::new().write(true).create(true)),
        StdIo::Append(p) => open(p, OpenOptions::new().append(true).create(true)),
        StdIo::Truncate(p) => open(
            p,
            OpenOptions::new().write(true).create(true).truncate(true),
        ),
        StdIo::Socket if input => open(Path::new("/dev/null"), OpenOptions::new().read(true)),
        StdIo::Log | StdIo::LogAndConsole | StdIo::Inherit | StdIo::Socket => dup(spec.log_fd),
    }
}

fn dup(fd: RawFd) -> Result<OwnedFd, SpawnError> {
    // SAFETY: fcntl on a caller-owned fd; the result is a new fd we own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(SpawnError::Prepare(format!(
            "dup: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: n is a freshly created fd.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Forks and execs. Returns the child's pid once the exec succeeded.
pub fn spawn(spec: &SpawnSpec, privileged: bool) -> Result<i32, SpawnError> {
    let ctx = spec.ctx;
    let mut env = spec.env.clone();
    let user = match context_user(spec.etc_dir, ctx) {
        Some(u) if !privileged => Some(u.map_err(SpawnError::Prepare)?),
        _ => None,
    };
    let gid = match (&ctx.group, privileged) {
        // A dynamic user's group is its own.
        (Some(g), false) if !ctx.dynamic_user => {
            Some(lookup_group(spec.etc_dir, g).map_err(SpawnError::Prepare)?)
        }
        _ => user.as_ref().map(|u| u.gid),
    };
    // As systemd: initgroups(3) for User= (unless the group is root), then
    // SupplementaryGroups= on top.
    let mut groups: Vec<libc::gid_t> = Vec::new();
    if let (Some(u), Some(g)) = (&user, gid) {
        if g != 0 {
            groups.push(g);
            groups.extend(member_groups(spec.etc_dir, &u.name));
        }
    }
    if !privileged {
        for g in &ctx.supplementary_groups {
            groups.push(lookup_group(spec.etc_dir, g).map_err(SpawnError::Prepare)? as libc::gid_t);
        }
    }
    groups.sort_unstable();
    groups.dedup();
    if let Some(u) = &user {
        env.push(("HOME".into(), u.home.clone()));
        env.push(("SHELL".into(), u.shell.clone()));
        env.push(("USER".into(), ctx.user.clone().unwrap_or_default()));
        env.push(("LOGNAME".into(), ctx.user.clone().unwrap_or_default()));
    }
    if !spec.pass_fds.is_empty() {
        env.push(("LISTEN_FDS".into(), spec.pass_fds.len().to_string()));
    }
    let argv = if spec.cmd.expand {
        expand_argv(&spec.cmd.argv, &env)
    } else {
        spec.cmd.argv.clone()
    };
    if argv.is_empty() {
        return Err(SpawnError::Prepare("command expands to nothing".into()));
    }
    let exe = find_exe(&argv[0], &env).map_err(SpawnError::Prepare)?;
    let args: Vec<&String> = if spec.cmd.custom_argv0 {
        argv[1..].iter().collect()
    } else {
        argv.iter().collect()
    };
    let c_exe = cstr(&exe)?;
    let c_args: Vec<CString> = args.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|c| c.as_ptr()).collect();
    c_argv.push(std::ptr::null());
    // Later assignments win, as with systemd; deduplicate keeping the last.
    let mut seen = std::collections::BTreeSet::new();
    let mut c_env_strings: Vec<CString> = Vec::new();
    let mut listen_pid_idx = None;
    for (k, v) in env.iter().rev() {
        if seen.insert(k.clone()) {
            if k == "LISTEN_FDS" {
                listen_pid_idx = Some(c_env_strings.len());
                // Placeholder the child rewrites with its own pid (LISTEN_PID).
                c_env_strings.push(cstr("LISTEN_PID=0000000000")?);
            }
            c_env_strings.push(cstr(&format!("{k}={v}"))?);
        }
    }
    let mut c_env: Vec<*mut libc::c_char> = c_env_strings
        .iter()
        .map(|c| c.as_ptr() as *mut libc::c_char)
        .collect();
    c_env.push(std::ptr::null_mut());
    let stdin = open_stdio(ctx.stdin.as_ref().unwrap_or(&StdIo::Null), true, spec)?;
    let stdout = open_stdio(ctx.stdout.as_ref().unwrap_or(&StdIo::Log), false, spec)?;
    let stderr = match ctx.stderr.as_ref() {
        None | Some(StdIo::Inherit) => dup(stdout.as_raw_fd())?,
        Some(io) => open_stdio(io, false, spec)?,
    };
    let (stdin_fd, stdout_fd) = match spec.socket_stdio {
        Some(s) => (s, s),
        None => (stdin.as_raw_fd(), stdout.as_raw_fd()),
    };
    let workdir = match &ctx.working_directory {
        Some((d, opt)) if d == "~" => Some((
            cstr(user.as_ref().map(|u| u.home.as_str()).unwrap_or("/root"))?,
            *opt,
        )),
        Some((d, opt)) => Some((cstr(d)?, *opt)),
        None => None,
    };
    let root = ctx
        .root_directory
        .as_ref()
        .map(|r| cstr(&r.display().to_string()))
        .transpose()?;
    let mut fds: Vec<(RawFd, RawFd)> = vec![(0, stdin_fd), (1, stdout_fd), (2, stderr.as_raw_fd())];
    for (i, fd) in spec.pass_fds.iter().enumerate() {
        fds.push((3 + i as RawFd, *fd));
    }
    fds.extend(spec.extra_fds.iter().copied());
    let mut pipe = [0; 2];
    // SAFETY: plain pipe2 call with a valid array.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(SpawnError::Fork(std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created by pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let ignore_sigpipe = ctx.ignore_sigpipe.unwrap_or(true);
    let limits = effective_limits(&ctx.limits, nr_open());
    // The `+` prefix runs without the sandbox, as in systemd.
    let namespace = if privileged {
        None
    } else {
        crate::namespace::plan(ctx, &spec.own_dirs, spec.run_dir)
            .map_err(|e| SpawnError::Prepare(e.to_string()))?
    };
    let mut plan = ChildPlan {
        status_fd: wr.as_raw_fd(),
        fds: &fds,
        ctx,
        privileged,
        uid: user.as_ref().map(|u| u.uid),
        gid,
        groups: &groups,
        limits: &limits,
        workdir: workdir.as_ref().map(|(c, o)| (c.as_c_str(), *o)),
        root: root.as_deref(),
        exe: &c_exe,
        argv: &c_argv,
        env: &mut c_env,
        listen_pid_idx,
        ignore_sigpipe,
        ctty: spec.socket_stdio.is_none() && matches!(ctx.stdin, Some(StdIo::Tty)),
        cgroup_procs: spec.cgroup_procs.as_deref(),
        namespace: namespace.as_ref(),
    };
    // Like posix_spawn: the child borrows our memory on its own stack until it execs
    // (CLONE_VM | CLONE_VFORK, we are suspended meanwhile), so nothing of PID 1 is copied
    // or marked copy-on-write, which a fork would do for every service started.
    let stack = child_stack()?;
    // SAFETY: b8g-init is single-threaded; the child runs `child_entry` on its own stack,
    // reads the prepared plan and calls only raw system calls (async-signal-safe) until
    // execve or _exit; we are suspended until then, so the plan outlives its use.
    let pid = unsafe {
        libc::clone(
            child_entry,
            stack,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut plan as *mut ChildPlan).cast(),
        )
    };
    if pid < 0 {
        return Err(SpawnError::Fork(std::io::Error::last_os_error()));
    }
    drop(wr);
    let mut buf = [0u8; 8];
    // SAFETY: reading into a stack buffer from our pipe end.
    let n = unsafe { libc::read(rd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n == 8 {
        let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        // Reap the failed child right away so it is not mistaken for a service exit.
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        let step = match step as usize {
            // The sandbox names the mount that failed.
            i if i >= SANDBOX_STEP => {
                let what = namespace
                    .as_ref()
                    .and_then(|ns| ns.describe().get(i - SANDBOX_STEP).cloned())
                    .unwrap_or_else(|| "unshare".into());
                format!("mount namespace (sandbox): {what}")
            }
            i => match STEPS.get(i).copied().unwrap_or("exec") {
                "execve" => format!("execve {exe}"),
                other => other.to_string(),
            },
        };
        return Err(SpawnError::Child {
            step,
            source: std::io::Error::from_raw_os_error(errno),
        });
    }
    Ok(pid)
}

/// Failure codes from here on name the sandbox's step of that index.
const SANDBOX_STEP: usize = 1000;

const STEPS: &[&str] = &[
    "dup2",
    "setsid",
    "setrlimit",
    "nice",
    "oom_score_adj",
    "mount namespace (sandbox)",
    "chroot",
    "chdir",
    "capability bounding set",
    "setgroups",
    "setgid",
    "setuid",
    "no_new_privs",
    "execve",
];

struct ChildPlan<'a> {
    status_fd: RawFd,
    fds: &'a [(RawFd, RawFd)],
    ctx: &'a ExecContext,
    privileged: bool,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: &'a [libc::gid_t],
    limits: &'a [Rlimit],
    workdir: Option<(&'a std::ffi::CStr, bool)>,
    root: Option<&'a std::ffi::CStr>,
    exe: &'a CString,
    argv: &'a [*const libc::c_char],
    env: &'a mut [*mut libc::c_char],
    listen_pid_idx: Option<usize>,
    ignore_sigpipe: bool,
    cgroup_procs: Option<&'a std::ffi::CStr>,
    /// The file-system sandbox to set up (PrivateTmp=, ProtectSystem=, …).
    namespace: Option<&'a crate::namespace::Plan>,
    /// StandardInput=tty: stdin becomes the controlling terminal of the child's session.
    ctty: bool,
}

unsafe fn fail(fd: RawFd, step: usize) -> ! {
    // SAFETY: errno location is thread-local and valid; write/_exit are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(step as u32).to_ne_bytes());
        b[4..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(fd, b.as_ptr().cast(), 8);
        libc::_exit(127);
    }
}

/// Size of the stack the spawned child runs on until it execs.
const CHILD_STACK: usize = 128 * 1024;

/// The top of the child stack, mapped once: only one child uses it at a time (the
/// parent waits for each to exec or exit).
fn child_stack() -> Result<*mut libc::c_void, SpawnError> {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static STACK: AtomicPtr<libc::c_void> = AtomicPtr::new(std::ptr::null_mut());
    let mut base = STACK.load(Ordering::Relaxed);
    if base.is_null() {
        // SAFETY: an anonymous private mapping; never unmapped.
        base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CHILD_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SpawnError::Fork(std::io::Error::last_os_error()));
        }
        STACK.store(base, Ordering::Relaxed);
    }
    // SAFETY: the end of the mapping; stacks grow down.
    Ok(unsafe { base.cast::<u8>().add(CHILD_STACK).cast() })
}

extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn` passes a ChildPlan that stays alive while it is suspended.
    unsafe { child(std::ptr::read(arg.cast::<ChildPlan>())) }
}

unsafe fn child(p: ChildPlan) -> ! {
    unsafe {
        // Signals: PID 1 blocks everything for its signalfd; children start clean.
        // Dispositions first, then the mask: with PID 1's memory shared until exec, no
        // handler of PID 1 may run here.
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        if p.ignore_sigpipe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // Each process starts its own session and process group; the supervisor kills
        // a unit's processes by group (and by invocation marker) when cgroups are absent.
        if libc::setsid() < 0 {
            fail(p.status_fd, 1);
        }
        if let Some(cg) = p.cgroup_procs {
            let fd = libc::open(cg.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) < 0 {
                fail(p.status_fd, 14);
            }
            libc::close(fd);
        }
        // Move sources out of the way first so dup2 cannot clobber a later source.
        let mut moved = [0 as RawFd; 64];
        for (i, (_, src)) in p.fds.iter().enumerate().take(64) {
            let n = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 100);
            if n < 0 {
                fail(p.status_fd, 0);
            }
            moved[i] = n;
        }
        for (i, (dst, _)) in p.fds.iter().enumerate().take(64) {
            if libc::dup2(moved[i], *dst) < 0 {
                fail(p.status_fd, 0);
            }
        }
        // As systemd does for StandardInput=tty: the new session takes stdin as its
        // controlling terminal, so a login shell gets job control and ^C reaches what
        // runs in it. Not fatal: a tty another session still holds leaves the service
        // without one, as without this step.
        if p.ctty {
            libc::ioctl(0, libc::TIOCSCTTY, 0);
        }
        if let Some(idx) = p.listen_pid_idx {
            // Rewrite the placeholder in place: "LISTEN_PID=" + up to 10 digits.
            let s = p.env[idx];
            let mut pid = libc::getpid() as u32;
            let mut digits = [b'0'; 10];
            let mut n = 0;
            loop {
                digits[9 - n] = b'0' + (pid % 10) as u8;
                pid /= 10;
                n += 1;
                if pid == 0 {
                    break;
                }
            }
            let base = s.add(11);
            for i in 0..n {
                *base.add(i) = digits[10 - n + i] as libc::c_char;
            }
            *base.add(n) = 0;
        }
        for l in p.limits {
            let mut r = libc::rlimit {
                rlim_cur: l.soft,
                rlim_max: l.hard,
            };
            // systemd's setrlimit_closest: refused a raise (EPERM), take what the hard
            // limit we have allows.
            if libc::setrlimit(l.resource as _, &r) < 0 {
                let mut have = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if *libc::__errno_location() != libc::EPERM
                    || libc::getrlimit(l.resource as _, &mut have) < 0
                    || have.rlim_max == libc::RLIM_INFINITY
                {
                    fail(p.status_fd, 2);
                }
                r.rlim_cur = r.rlim_cur.min(have.rlim_max);
                r.rlim_max = r.rlim_max.min(have.rlim_max);
                if libc::setrlimit(l.resource as _, &r) < 0 {
                    fail(p.status_fd, 2);
                }
            }
        }
        if let Some(n) = p.ctx.nice {
            if libc::setpriority(libc::PRIO_PROCESS, 0, n) < 0 {
                fail(p.status_fd, 3);
            }
        }
        if let Some(o) = p.ctx.oom_score_adjust {
            let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
            let mut buf = [0u8; 16];
            let s = itoa_i32(o, &mut buf);
            if fd < 0 || libc::write(fd, s.as_ptr().cast(), s.len()) < 0 {
                fail(p.status_fd, 4);
            }
            libc::close(fd);
        }
        if let Some(m) = p.ctx.umask {
            libc::umask(m);
        } else {
            libc::umask(0o022);
        }
        if let Some(ns) = p.namespace {
            match ns.apply() {
                Ok(()) => {}
                Err((Some(i), _)) => fail(p.status_fd, SANDBOX_STEP + i),
                Err((None, _)) => fail(p.status_fd, 5),
            }
        }
        if let Some(r) = p.root {
            if libc::chroot(r.as_ptr()) < 0 {
                fail(p.status_fd, 6);
            }
            libc::chdir(c"/".as_ptr());
        }
        match p.workdir {
            Some((d, optional)) => {
                if libc::chdir(d.as_ptr()) < 0 && !optional {
                    fail(p.status_fd, 7);
                }
            }
            None => {
                libc::chdir(c"/".as_ptr());
            }
        }
        if let Some(keep) = &p.ctx.capability_bounding_set {
            if !p.privileged {
                for cap in 0..64u32 {
                    if !keep.contains(&cap)
                        && libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong) == 1
                        && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) < 0
                    {
                        fail(p.status_fd, 8);
                    }
                }
            }
        }
        // Raw system calls: glibc's wrappers would try to change the credentials of
        // every thread it knows of, and its thread list here is PID 1's.
        if (p.gid.is_some() || !p.groups.is_empty())
            && libc::syscall(libc::SYS_setgroups, p.groups.len(), p.groups.as_ptr()) < 0
        {
            fail(p.status_fd, 9);
        }
        if let Some(g) = p.gid {
            if libc::syscall(libc::SYS_setgid, g) < 0 {
                fail(p.status_fd, 10);
            }
        }
        if let Some(u) = p.uid {
            if libc::syscall(libc::SYS_setuid, u) < 0 {
                fail(p.status_fd, 11);
            }
        }
        if p.ctx.no_new_privileges
            && !p.privileged
            && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
        {
            fail(p.status_fd, 12);
        }
        libc::execve(
            p.exe.as_ptr(),
            p.argv.as_ptr(),
            p.env.as_ptr() as *const *const libc::c_char,
        );
        fail(p.status_fd, 13);
    }
}

fn itoa_i32(v: i32, buf: &mut [u8; 16]) -> &[u8] {
    let neg = v < 0;
    let mut x = (v as i64).unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_users_are_stable_unprivileged_and_avoid_used_ids() {
        let etc = tempfile::tempdir().unwrap();
        let a = dynamic_user(etc.path(), "myservice");
        assert!((DYNAMIC_UID_MIN..=DYNAMIC_UID_MAX).contains(&a.uid));
        assert_eq!(
            (a.uid, a.gid),
            (dynamic_user(etc.path(), "myservice").uid, a.uid)
        );
        // An id /etc/passwd (or /etc/group) uses is skipped; a static user of the name is used.
        std::fs::write(
            etc.path().join("passwd"),
            format!(
                "other:x:{}:100::/:/bin/sh\nsvc:x:990:990::/var/lib/svc:/bin/false\n",
                a.uid
            ),
        )
        .unwrap();
        assert_ne!(dynamic_user(etc.path(), "myservice").uid, a.uid);
        assert_eq!(dynamic_user(etc.path(), "svc").uid, 990);
    }

    #[test]
    fn variable_expansion() {
        let env = vec![
            ("A".to_string(), "x y".to_string()),
            ("B".to_string(), "z".to_string()),
            ("Q".to_string(), "'one word' two".to_string()),
            ("E".to_string(), String::new()),
        ];
        let argv: Vec<String> = [
            "/bin/p",
            "$A",
            "${A}",
            "pre${B}post",
            "$$A",
            "$NOPE",
            "$Q",
            "$E",
            "${E}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            expand_argv(&argv, &env),
            ["/bin/p", "x", "y", "x y", "prezpost", "$A", "one word", "two", ""]
        );
    }

    #[test]
    fn dollar_var_inside_a_word_and_default_syntax_stay_as_written() {
        // Regression: `pre$B` and `${B:-x}` were expanded; systemd.service(5) replaces
        // `$VAR` only as a whole word and has no `${VAR:-x}` on command lines.
        let env = vec![("B".to_string(), "z".to_string())];
        let argv: Vec<String> = ["pre$B", "${B:-x}", "${NOPE:-x}", "${B", "$", "a$$b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            expand_argv(&argv, &env),
            ["pre$B", "${B:-x}", "${NOPE:-x}", "${B", "a$b"]
        );
    }

    #[test]
    fn member_groups_read_like_initgroups() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("group"),
            "root:x:0:\nadm:x:4:syslog,alice\nusers:x:100: alice \nother:x:7:bob\nbad\n",
        )
        .unwrap();
        assert_eq!(member_groups(d.path(), "alice"), [4, 100]);
        assert_eq!(member_groups(d.path(), "syslog"), [4]);
    }

    #[test]
    fn nofile_infinity_is_clamped_to_nr_open() {
        let inf = libc::RLIM_INFINITY;
        let l = |resource: i32, soft, hard| Rlimit {
            resource,
            soft,
            hard,
        };
        let nofile = libc::RLIMIT_NOFILE as i32;
        let core = libc::RLIMIT_CORE as i32;
        assert_eq!(
            effective_limits(&[l(nofile, inf, inf), l(core, inf, inf)], 1 << 20),
            [l(nofile, 1 << 20, 1 << 20), l(core, inf, inf)]
        );
        assert_eq!(
            effective_limits(&[l(nofile, 1024, inf)], 4096),
            [l(nofile, 1024, 4096)]
        );
    }

    #[test]
    fn env_files() {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), "# c\nA=1\nexport B=\"two words\"\n\nC='q'\n").unwrap();
        let v = read_env_file(t.path()).unwrap();
        assert_eq!(
            v,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "q".into())
            ]
        );
    }
}
