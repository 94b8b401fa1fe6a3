//! The supervisor: PID 1's event loop. It owns the unit set, the job engine and every
//! child process; it reaps all zombies (orphans included), runs the service state
//! machine (Type=, Exec*, timeouts, KillMode, Restart= with backoff, start limits),
//! listens on sockets for activation, receives sd_notify datagrams, fires timers,
//! captures output into per-unit logs, serves the control socket and shuts down.
//! Single-threaded, no async runtime: one poll(2) over a signalfd and a few sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::config::{boot_good_path, Config};
use crate::control::{Request, Response};
use crate::engine::{ActiveState, Engine, JobKind, JobResult};
use crate::exec::{self, SpawnSpec};
use crate::log::Logs;
use crate::notify::{self, Sender, SenderRole};
use crate::pathwatch::{self, PathWatcher};
use crate::sysv::{self, SysvExtras};
use crate::unit::load::{self, LoadOptions, UnitSet};
use crate::unit::{
    ConditionKind, ExecCommand, KillMode, KindConfig, ListenKind, NotifyAccess, PathConfig,
    PathWatch, RestartPolicy, ServiceConfig, ServiceType, Unit,
};

const MANAGER: &str = "b8g-init";
/// The most of a PID file PID 1 reads (systemd reads one line).
const PID_FILE_MAX: usize = 4096;
/// The longest a Type=idle service waits for the other jobs, as in systemd.
const IDLE_MAX_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// `ExecCondition=` commands.
    Condition,
    StartPre,
    Start,
    /// Type=forking: the start command exited and its PIDFile= is not readable yet.
    PidFile,
    StartPost,
    Running,
    Reload,
    Stop,
    StopSigterm,
    StopSigkill,
    StopPost,
    AutoRestart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownKind {
    Poweroff,
    Reboot,
    Halt,
}

/// Runtime state of one unit.
#[derive(Default)]
struct Rt {
    state: Option<ActiveState>,
    sub: &'static str,
    phase: Option<Phase>,
    result: Option<String>,
    main_pid: Option<i32>,
    control_pid: Option<i32>,
    idx: usize,
    deadline: Option<Instant>,
    pgids: BTreeSet<i32>,
    invocation: String,
    restart_at: Option<Instant>,
    restarts: u32,
    starts: VecDeque<Instant>,
    status_text: Option<String>,
    watchdog_at: Option<Instant>,
    ready_fd: Option<OwnedFd>,
    log_r: Option<OwnedFd>,
    log_w: Option<OwnedFd>,
    log_buf: Vec<u8>,
    explicit_stop: bool,
    restart_job: bool,
    main_exit: Option<String>,
    conn_fd: Option<OwnedFd>,
    listen_fds: Vec<OwnedFd>,
    last_trigger: Option<Instant>,
    activated: Option<Instant>,
    last_start: Option<Instant>,
    inactive_since: Option<Instant>,
    exited_main: bool,
    ready: bool,
    /// Notifications refused since the last start (only the first few are logged).
    notify_refused: u32,
    /// A per-connection instance of an Accept=yes socket: forgotten once it stops.
    transient: bool,
    /// ExecCondition= skipped this start: not a failure, and no Restart= either.
    condition_skipped: bool,
    /// A `.path` unit's watches while it waits.
    path_watch: Option<PathWatcher>,
    /// When a `.path` unit triggered lately (for TriggerLimit*).
    triggers: VecDeque<Instant>,
}

impl Rt {
    fn st(&self) -> ActiveState {
        self.state.unwrap_or(ActiveState::Inactive)
    }
    fn ph(&self) -> Phase {
        self.phase.unwrap_or(Phase::Idle)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    Control,
}

pub struct Manager {
    pub cfg: Config,
    set: UnitSet,
    engine: Engine,
    rt: BTreeMap<String, Rt>,
    pids: HashMap<i32, (String, Role)>,
    logs: Logs,
    start: Instant,
    sigfd: OwnedFd,
    control: Option<UnixListener>,
    notify: Option<OwnedFd>,
    extras: SysvExtras,
    /// The shutdown under way: its kind, when it began and its overall bound.
    shutdown: Option<(ShutdownKind, Instant, Duration)>,
    ready_reported: bool,
    /// Why local-fs.target's start job failed (a mount it requires failed), if it did:
    /// such a boot is not reported ready. systemd would enter emergency mode
    /// (local-fs.target's OnFailure=emergency.target); b8g-init starts the rest so a
    /// console login stays possible, and leaves the boot unmarked so boot counting
    /// falls back to the previous generation.
    local_fs_failed: Option<JobResult>,
    degraded: bool,
    /// The boot's default target finished (reached or not): unit states stop going to the
    /// console, as systemd shows status only while starting and stopping.
    settled: bool,
    counter: u64,
    idle_since: Option<Instant>,
    /// Type=idle services whose start job waits for the other jobs to finish.
    idle_waiting: BTreeSet<String>,
    /// Units asked for by name (b8gctl) beyond what the default target reaches.
    extra_roots: BTreeSet<String>,
    /// `<cgroup2 mount>/b8g` when units get cgroups; otherwise processes are tracked by
    /// process group, session and invocation marker.
    cgroup_root: Option<std::path::PathBuf>,
    pub finished: bool,
}

fn now() -> Instant {
    Instant::now()
}

fn is_pid1() -> bool {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() == 1 }
}

/// What a signal to PID 1 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignalAction {
    Shutdown(ShutdownKind),
    /// SIGINT: the kernel's ctrl-alt-del (inittab `ctrlaltdel`, else reboot).
    CtrlAltDel,
    /// SIGPWR: inittab `powerfail` actions.
    PowerFail,
    /// SIGHUP: reload unit files (systemd: daemon-reload).
    Reload,
    /// SIGCHLD and the rest: reaping follows every batch of signals anyway.
    Nothing,
}

/// The meaning of each signal PID 1 handles: systemd's (systemd(1), SIGNALS) and
/// busybox's, whose `halt`, `poweroff` and `reboot` signal PID 1 with SIGUSR1, SIGUSR2
/// and SIGTERM (init/halt.c) and are what a b8g system has on its PATH. Where the two
/// disagree, busybox wins, because its tools are the ones users type here:
/// - SIGTERM: systemd re-executes itself (daemon-reexec, which b8g-init does not do);
///   here it reboots, as `reboot` asks.
/// - SIGUSR1: systemd reconnects to D-Bus (b8g-init has none); here it halts.
/// - SIGUSR2: systemd dumps its state to the log; here it powers off.
///
/// systemd's SIGRTMIN+3/+4/+5 (halt, poweroff, reboot) and SIGINT (ctrl-alt-del) keep
/// their meaning.
fn signal_action(sig: i32) -> SignalAction {
    match sig {
        libc::SIGINT => SignalAction::CtrlAltDel,
        libc::SIGPWR => SignalAction::PowerFail,
        libc::SIGHUP => SignalAction::Reload,
        libc::SIGTERM => SignalAction::Shutdown(ShutdownKind::Reboot),
        libc::SIGUSR1 => SignalAction::Shutdown(ShutdownKind::Halt),
        libc::SIGUSR2 => SignalAction::Shutdown(ShutdownKind::Poweroff),
        s if s == libc::SIGRTMIN() + 3 => SignalAction::Shutdown(ShutdownKind::Halt),
        s if s == libc::SIGRTMIN() + 4 => SignalAction::Shutdown(ShutdownKind::Poweroff),
        s if s == libc::SIGRTMIN() + 5 => SignalAction::Shutdown(ShutdownKind::Reboot),
        _ => SignalAction::Nothing,
    }
}

/// Where a manager message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageRoute {
    /// Written to the console only (not booting: tests, containers).
    Console,
    /// Written to the console, and to the kernel log, which does not echo it.
    ConsoleAndKmsg,
    /// Written to the kernel log only: the kernel prints it on the console itself.
    Kmsg,
}

/// The kernel level of manager messages in /dev/kmsg (KERN_INFO, as systemd's).
const KMSG_LEVEL: u32 = 6;

/// Each manager message must reach the console once. The kernel itself prints every
/// kernel-log record whose level is below its console log level (the first field of
/// /proc/sys/kernel/printk: 7 by default, 4 with `quiet`) on its consoles, the ones
/// /dev/console writes to. So, like systemd's PID 1 (which logs to kmsg and leaves the
/// console to the kernel): when the kernel will echo the record and our console is
/// /dev/console, write the kernel log only; otherwise write the console, and (booting)
/// the kernel log as well so `dmesg` keeps the message.
fn message_route(boot: bool, console: Option<&Path>, loglevel: Option<u32>) -> MessageRoute {
    if !boot {
        return MessageRoute::Console;
    }
    let echoed = loglevel.is_some_and(|l| KMSG_LEVEL < l);
    if echoed && console == Some(Path::new("/dev/console")) {
        MessageRoute::Kmsg
    } else {
        MessageRoute::ConsoleAndKmsg
    }
}

/// Whether a unit's state change goes to the console: while the boot starts its units
/// and while the system stops, as systemd's status output (`manager_get_show_status`);
/// afterwards a timer's service every 15 s would write over the user's shell. Failures
/// always show.
fn state_on_console(boot: bool, settled: bool, stopping: bool, failed: bool) -> bool {
    failed || (boot && (!settled || stopping))
}

/// One kernel-log record: `<level>b8g-init: msg`, in one write, since every write(2) to
/// /dev/kmsg is a record of its own (`writeln!` on a file wrote three, and the kernel
/// printed the message over three lines).
fn kmsg_record(msg: &str) -> Vec<u8> {
    format!("<{KMSG_LEVEL}>{MANAGER}: {msg}\n").into_bytes()
}

/// Writes one record to /dev/kmsg. Opened for each message: the kernel rate-limits
/// writers per open file (10 records in 5 s), which a boot's messages would exceed.
fn write_kmsg(msg: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")?
        .write_all(&kmsg_record(msg))
}

/// How the console names a signal that shuts down.
fn shutdown_signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        s => format!("SIGRTMIN+{}", s - libc::SIGRTMIN()),
    }
}

/// Signals PID 1 handles through its signalfd.
fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a zeroed local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPWR,
            libc::SIGPIPE,
        ] {
            libc::sigaddset(&mut set, s);
        }
        for off in 3..=5 {
            libc::sigaddset(&mut set, libc::SIGRTMIN() + off);
        }
        set
    }
}

impl Manager {
    pub fn new(cfg: Config) -> Result<Manager, String> {
        let set = handled_signals();
        // SAFETY: blocking signals for this (single) thread and creating a signalfd.
        let sigfd = unsafe {
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                return Err(format!("signalfd: {}", std::io::Error::last_os_error()));
            }
            OwnedFd::from_raw_fd(fd)
        };
        if !is_pid1() {
            // Orphans of our services must come back to us to be reaped.
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        } else {
            // Ctrl-Alt-Del becomes SIGINT to PID 1 instead of an immediate reboot.
            // SAFETY: plain syscall; fails harmlessly without CAP_SYS_BOOT.
            unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_CAD_OFF) };
        }
        let start = now();
        let logs = Logs::new(cfg.unit_log_dir.clone(), start);
        let mut m = Manager {
            cfg,
            set: UnitSet::default(),
            engine: Engine::default(),
            rt: BTreeMap::new(),
            pids: HashMap::new(),
            logs,
            start,
            sigfd,
            control: None,
            notify: None,
            extras: SysvExtras::default(),
            shutdown: None,
            ready_reported: false,
            local_fs_failed: None,
            degraded: false,
            settled: false,
            counter: 0,
            idle_since: None,
            idle_waiting: BTreeSet::new(),
            extra_roots: BTreeSet::new(),
            cgroup_root: None,
            finished: false,
        };
        m.cgroup_root = m.setup_cgroups();
        let b8g_run = m.cfg.b8g_run();
        if let Err(e) = std::fs::create_dir_all(&b8g_run) {
            m.say(&format!("cannot create {}: {e}", b8g_run.display()));
        }
        // Debian's tools (invoke-rc.d, deb-systemd-invoke, lsb init-functions) and
        // sd_booted(3) take this directory as "systemd is PID 1" and then call systemctl,
        // which b8gctl answers. On a plain root it is also a unit directory (empty).
        let booted = m.cfg.run_dir.join("systemd/system");
        if let Err(e) = std::fs::create_dir_all(&booted) {
            m.say(&format!("cannot create {}: {e}", booted.display()));
        }
        m.open_control();
        m.open_notify();
        m.reload_units();
        Ok(m)
    }

    /// Uses cgroup v2 when it is mounted at /sys/fs/cgroup and we may create cgroups
    /// there. Only on a real boot: in tests and containers the hierarchy belongs to others.
    fn setup_cgroups(&mut self) -> Option<std::path::PathBuf> {
        if !self.cfg.boot {
            return None;
        }
        let base = Path::new("/sys/fs/cgroup");
        if !base.join("cgroup.controllers").exists() {
            let _ = std::fs::create_dir_all(base);
            if do_mount("cgroup2", base, Some("cgroup2"), "nosuid,nodev,noexec").is_err() {
                return None;
            }
        }
        let root = base.join("b8g");
        match std::fs::create_dir_all(&root) {
            Ok(()) => {
                self.say("tracking unit processes with cgroup v2");
                Some(root)
            }
            Err(e) => {
                self.say(&format!(
                    "cgroup v2 unavailable ({e}); tracking processes by process group"
                ));
                None
            }
        }
    }

    fn unit_cgroup(&self, n: &str) -> Option<std::path::PathBuf> {
        self.cgroup_root
            .as_ref()
            .map(|r| r.join(n.replace('/', "_")))
    }

    /// A manager message: into the b8g-init log, and once onto the console.
    fn say(&mut self, msg: &str) {
        let line = self.logs.push(MANAGER, msg);
        self.announce(&line, msg);
    }

    /// Puts a manager message (`line` as logged, `msg` bare) on the console exactly once,
    /// and into the kernel log when booting (see [`message_route`]).
    fn announce(&self, line: &str, msg: &str) {
        let loglevel = std::fs::read_to_string("/proc/sys/kernel/printk")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        match message_route(self.cfg.boot, self.cfg.console.as_deref(), loglevel) {
            MessageRoute::Console => self.console(line),
            MessageRoute::ConsoleAndKmsg => {
                self.console(line);
                let _ = write_kmsg(msg);
            }
            MessageRoute::Kmsg => {
                if write_kmsg(msg).is_err() {
                    self.console(line);
                }
            }
        }
    }

    fn console(&self, line: &str) {
        match &self.cfg.console {
            Some(p) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .custom_flags_noctty()
                    .open(p)
                {
                    // One write, so a kernel-log record the kernel prints meanwhile cannot
                    // land between the line and its newline.
                    let _ = f.write_all(format!("{line}\n").as_bytes());
                    return;
                }
                eprintln!("{line}");
            }
            None => eprintln!("{line}"),
        }
    }

    fn open_control(&mut self) {
        let p = self.cfg.control_socket.clone();
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = std::fs::remove_file(&p);
        match UnixListener::bind(&p) {
            Ok(l) => {
                let _ = l.set_nonblocking(true);
                let _ = std::fs::set_permissions(
                    &p,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                );
                self.control = Some(l);
            }
            Err(e) => self.say(&format!("cannot bind control socket {}: {e}", p.display())),
        }
    }

    fn open_notify(&mut self) {
        let p = self.cfg.notify_socket();
        let _ = std::fs::remove_file(&p);
        match std::os::unix::net::UnixDatagram::bind(&p) {
            Ok(s) => {
                let _ = s.set_nonblocking(true);
                let one: libc::c_int = 1;
                // SAFETY: setsockopt with a valid int option.
                unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_PASSCRED,
                        (&one as *const libc::c_int).cast(),
                        4,
                    );
                }
                // World-writable like systemd's: any process may send, but a datagram
                // counts only for the unit its sender belongs to by kernel credentials
                // (SO_PASSCRED above), under that unit's NotifyAccess= (see notify.rs).
                let _ = std::fs::set_permissions(
                    &p,
                    std::os::unix::fs::PermissionsExt::from_mode(0o666),
                );
                self.notify = Some(OwnedFd::from(s));
            }
            Err(e) => self.say(&format!("cannot bind notify socket {}: {e}", p.display())),
        }
    }

    /// (Re)loads all units; runtime state of units that still exist is kept.
    pub fn reload_units(&mut self) {
        let (generated, extras, sysv_diags) = sysv::generate(&self.cfg.etc_dir);
        self.extras = extras;
        let opts = LoadOptions {
            unit_dirs: self.cfg.unit_dirs.clone(),
            specifier_dirs: self.cfg.specifier_dirs(),
            links_only: !self.cfg.install_enables,
            roots: self.load_roots(),
        };
        let set = load::load(&opts, generated);
        // Errors go to the console; warnings (directives parsed but not enforced, unknown
        // ones) only to b8g-init's log: on a serial console every line costs boot time.
        for d in sysv_diags.iter().chain(set.diagnostics.iter()) {
            if d.error {
                let line = self.logs.push(MANAGER, &d.to_string());
                self.announce(&line, &d.to_string());
            } else {
                self.logs.push(MANAGER, &d.to_string());
            }
        }
        let bad: Vec<(String, String)> = set
            .units
            .values()
            .filter_map(|u| {
                u.load_error
                    .as_ref()
                    .filter(|e| *e != "unit not found")
                    .map(|e| (u.name.clone(), e.clone()))
            })
            .collect();
        for (n, e) in bad {
            self.say(&format!("{n}: failed to load: {e}"));
        }
        self.engine.rebuild(&set);
        self.set = set;
        // Parsing a full /lib/systemd/system leaves a lot of freed heap behind; hand it
        // back so PID 1's resident memory is what it keeps, not what it parsed through.
        // SAFETY: malloc_trim only releases free memory of the allocator.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// On a plain root (units enabled only by links), the units to load: what the
    /// default target reaches, whatever has runtime state, and names asked for since.
    /// Units nobody needs stay on disk, as in systemd: PID 1 keeps less in memory and
    /// parses less at boot. A generation loads everything: `[Install]` sections enable.
    fn load_roots(&self) -> Option<Vec<String>> {
        if self.cfg.install_enables {
            return None;
        }
        let mut roots = vec![self.cfg.default_target.clone()];
        roots.extend(self.rt.keys().cloned());
        roots.extend(self.extra_roots.iter().cloned());
        Some(roots)
    }

    fn state_of(&self, n: &str) -> ActiveState {
        self.rt.get(n).map(Rt::st).unwrap_or(ActiveState::Inactive)
    }

    /// Makes sure a template instance named by a request exists in the unit set.
    fn ensure_loaded(&mut self, name: &str) {
        let known = self
            .set
            .get(name)
            .is_some_and(|u| u.load_error.as_deref() != Some("unit not found"));
        if known {
            return;
        }
        // Not loaded yet (units are loaded on demand on a plain root): load it, with
        // everything it reaches, if a unit directory has it.
        let on_disk = self.cfg.unit_dirs.iter().any(|d| {
            d.join(name).exists()
                || crate::unit::name::template_of(name).is_some_and(|t| d.join(t).exists())
        });
        if !self.cfg.install_enables && on_disk && self.extra_roots.insert(name.to_string()) {
            self.reload_units();
            let loaded = self
                .set
                .get(name)
                .is_some_and(|u| u.load_error.as_deref() != Some("unit not found"));
            if loaded {
                return;
            }
        }
        let opts = LoadOptions {
            unit_dirs: self.cfg.unit_dirs.clone(),
            specifier_dirs: self.cfg.specifier_dirs(),
            links_only: !self.cfg.install_enables,
            roots: None,
        };
        if let Some((unit, diags)) = load::instantiate(&opts, &self.set, name) {
            for d in diags {
                self.say(&d.to_string());
            }
            // Referenced names (sysinit.target, shutdown.target) are built-ins and exist already.
            self.set.units.insert(name.to_string(), unit);
            self.engine.rebuild(&self.set);
        }
    }

    /// Queues a start job; the boot target is started this way too.
    pub fn start_unit(&mut self, name: &str, isolate: bool) -> Result<(), String> {
        self.ensure_loaded(name);
        let st: BTreeMap<String, ActiveState> =
            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
        let f = |n: &str| st.get(n).copied().unwrap_or(ActiveState::Inactive);
        let r = self
            .engine
            .start(&self.set, name, isolate, &f)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.drain_engine_messages();
        r
    }

    fn stop_unit(&mut self, name: &str) -> Result<(), String> {
        let st: BTreeMap<String, ActiveState> =
            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
        let f = |n: &str| st.get(n).copied().unwrap_or(ActiveState::Inactive);
        let r = self
            .engine
            .stop(&self.set, name, &f)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.drain_engine_messages();
        r
    }

    fn drain_engine_messages(&mut self) {
        for m in std::mem::take(&mut self.engine.messages) {
            self.say(&m);
        }
    }

    fn set_state(&mut self, n: &str, st: ActiveState, sub: &'static str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        let old = rt.st();
        rt.state = Some(st);
        rt.sub = sub;
        if st == ActiveState::Active && old != ActiveState::Active {
            rt.activated = Some(now());
        }
        if matches!(st, ActiveState::Inactive | ActiveState::Failed) && old != st {
            rt.inactive_since = Some(now());
        }
        if old != st {
            let desc = self.set.get(n).and_then(|u| u.description.clone());
            let what = match st {
                ActiveState::Active => "started",
                ActiveState::Failed => "failed",
                ActiveState::Inactive if old == ActiveState::Deactivating || old.is_active() => {
                    "stopped"
                }
                _ => "",
            };
            if !what.is_empty() {
                let result = self
                    .rt
                    .get(n)
                    .and_then(|r| r.result.clone())
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                let d = desc.map(|d| format!(" - {d}")).unwrap_or_default();
                let line = self.logs.push(n, &format!("{what}{result}"));
                self.logs.push(MANAGER, &format!("{n}{d}: {what}{result}"));
                let failed = st == ActiveState::Failed;
                if state_on_console(self.cfg.boot, self.settled, self.shutdown.is_some(), failed) {
                    self.console(&line);
                }
            }
        }
    }

    // ---------------------------------------------------------------- the loop

    /// One iteration: dispatch jobs, wait for events, handle them.
    pub fn iterate(&mut self) {
        self.dispatch();
        let timeout = self.next_timeout();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut kinds: Vec<(u8, String)> = Vec::new();
        let mut add = |fd: RawFd, kind: u8, name: &str, fds: &mut Vec<libc::pollfd>| {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            kinds.push((kind, name.to_string()));
        };
        add(self.sigfd.as_raw_fd(), 0, "", &mut fds);
        if let Some(c) = &self.control {
            add(c.as_raw_fd(), 1, "", &mut fds);
        }
        if let Some(n) = &self.notify {
            add(n.as_raw_fd(), 2, "", &mut fds);
        }
        for (name, rt) in &self.rt {
            if let Some(r) = &rt.log_r {
                add(r.as_raw_fd(), 3, name, &mut fds);
            }
            if let Some(r) = &rt.ready_fd {
                add(r.as_raw_fd(), 4, name, &mut fds);
            }
            if let (ActiveState::Active, Some(w)) = (rt.st(), &rt.path_watch) {
                add(w.fd(), 6, name, &mut fds);
            }
            if rt.st() == ActiveState::Active
                && !rt.listen_fds.is_empty()
                && self.socket_wants_poll(name)
            {
                for fd in &rt.listen_fds {
                    add(fd.as_raw_fd(), 5, name, &mut fds);
                }
            }
        }
        let ms = timeout
            .map(|d| d.as_millis().min(60_000) as i32)
            .unwrap_or(60_000);
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n > 0 {
            for (i, p) in fds.iter().enumerate() {
                if p.revents == 0 {
                    continue;
                }
                let (kind, name) = &kinds[i];
                match kind {
                    0 => self.handle_signals(),
                    1 => self.handle_control(),
                    2 => self.handle_notify(),
                    3 => self.read_log(name),
                    4 => self.read_ready_fd(name),
                    5 => self.socket_ready(name, p.fd),
                    6 => self.path_event(name),
                    _ => {}
                }
            }
        }
        self.path_check_levels();
        self.handle_deadlines();
        self.check_shutdown_progress();
    }

    fn next_timeout(&self) -> Option<Duration> {
        let t = now();
        let mut best: Option<Instant> = None;
        let mut consider = |d: Option<Instant>| {
            if let Some(d) = d {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        };
        for (name, rt) in &self.rt {
            consider(rt.deadline);
            consider(rt.restart_at);
            consider(rt.watchdog_at);
            if matches!(
                rt.ph(),
                Phase::StopSigterm | Phase::StopSigkill | Phase::PidFile
            ) {
                consider(Some(t + Duration::from_millis(50)));
            }
            if let Some(u) = self.set.units.get(name) {
                if rt.st() == ActiveState::Active {
                    if let KindConfig::Timer(_) = u.config {
                        consider(self.timer_next(name));
                    }
                }
            }
        }
        if let (Some(since), false) = (self.idle_since, self.idle_waiting.is_empty()) {
            consider(since.checked_add(IDLE_MAX_WAIT));
        }
        if self.shutdown.is_some() {
            consider(Some(t + Duration::from_millis(100)));
        }
        best.map(|b| b.saturating_duration_since(t))
    }

    fn dispatch(&mut self) {
        loop {
            let ready = self.engine.runnable();
            let any = !ready.is_empty();
            for (n, kind) in ready {
                self.run_job(&n, kind);
            }
            // Starting an idle service may finish jobs and so make others runnable.
            if !self.start_idle() && !any {
                break;
            }
        }
        self.process_finished();
    }

    /// Starts the parked Type=idle services once no other job runs or their wait is
    /// over. Returns whether it started any.
    fn start_idle(&mut self) -> bool {
        if self.idle_waiting.is_empty() {
            return false;
        }
        let expired = self
            .idle_since
            .is_some_and(|s| s.elapsed() >= IDLE_MAX_WAIT);
        let mut started = false;
        for n in std::mem::take(&mut self.idle_waiting) {
            // The job may have been cancelled or replaced meanwhile (a stop request).
            let still =
                self.engine.jobs.get(&n).is_some_and(|j| {
                    j.running && matches!(j.kind, JobKind::Start | JobKind::Restart)
                });
            if !still {
                continue;
            }
            if !expired && self.busy_besides(&n) {
                self.idle_waiting.insert(n);
                continue;
            }
            let unit = self.set.units.get(&n).cloned();
            if let Some((u, s)) = unit.as_ref().and_then(|u| Some((u, u.service()?.clone()))) {
                self.service_start(u, &s);
                started = true;
            }
        }
        if self.idle_waiting.is_empty() {
            self.idle_since = None;
        }
        started
    }

    fn process_finished(&mut self) {
        for (n, kind, res) in std::mem::take(&mut self.engine.finished) {
            if kind == JobKind::Start && res == JobResult::Dependency {
                self.rt
                    .entry(n.clone())
                    .or_default()
                    .result
                    .get_or_insert_with(|| "dependency".into());
                self.logs.push(&n, "dependency failed");
                self.say(&format!("{n}: dependency failed, not starting"));
            }
            if n == "local-fs.target" && kind == JobKind::Start && res != JobResult::Done {
                self.local_fs_failed = Some(res);
            }
            if n == self.boot_target() && kind == JobKind::Start && !self.ready_reported {
                self.ready_reported = true;
                self.report_ready(res);
            }
        }
        self.drain_engine_messages();
    }

    fn boot_target(&self) -> String {
        self.set.resolve(&self.cfg.default_target).to_string()
    }

    fn report_ready(&mut self, res: JobResult) {
        self.settled = true;
        let ms = if self.cfg.boot {
            uptime_ms()
        } else {
            self.start.elapsed().as_millis() as u64
        };
        if res != JobResult::Done {
            self.degraded = true;
            self.say(&format!(
                "default target {} was not reached ({res:?}); not marking the boot good",
                self.boot_target()
            ));
            return;
        }
        if let Some(lf) = self.local_fs_failed {
            self.degraded = true;
            self.say(&format!(
                "local-fs.target failed ({lf:?}: a file system was not mounted); not marking the boot good"
            ));
            return;
        }
        let line = format!("b8g: system ready in {ms} ms");
        self.logs.push(MANAGER, &line);
        self.console(&line);
        let p = boot_good_path(&self.cfg.state_dir);
        let body = format!(
            "system={}\nready_ms={ms}\n",
            self.cfg
                .system
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default()
        );
        let tmp = p.with_extension("tmp");
        let ok = p.parent().map(std::fs::create_dir_all).transpose().is_ok()
            && std::fs::write(&tmp, body).is_ok()
            && std::fs::File::open(&tmp).and_then(|f| f.sync_all()).is_ok()
            && std::fs::rename(&tmp, &p).is_ok();
        if !ok {
            self.say(&format!("could not write {}", p.display()));
        }
    }

    fn run_job(&mut self, n: &str, kind: JobKind) {
        let Some(unit) = self.set.units.get(n).cloned() else {
            self.engine.finish(&self.set, n, JobResult::Failed);
            return;
        };
        match kind {
            JobKind::Start => self.begin_start(&unit),
            JobKind::Stop => self.begin_stop(&unit),
            JobKind::Restart => {
                if self.state_of(n) == ActiveState::Inactive
                    || self.state_of(n) == ActiveState::Failed
                {
                    self.begin_start(&unit);
                } else {
                    self.rt.entry(n.to_string()).or_default().restart_job = true;
                    self.begin_stop(&unit);
                }
            }
            JobKind::Reload => self.begin_reload(&unit),
        }
    }

    fn finish_job(&mut self, n: &str, res: JobResult) {
        if self.engine.has_job(n) {
            self.engine.finish(&self.set, n, res);
        }
    }

    // ---------------------------------------------------------------- starting

    fn check_conditions(&self, u: &Unit, asserts: bool) -> Result<(), String> {
        let list = if asserts { &u.asserts } else { &u.conditions };
        let (mut triggers, mut trigger_met) = (Vec::new(), false);
        for c in list {
            let p = Path::new(&c.value);
            let ok = match c.kind {
                ConditionKind::PathExists => p.exists(),
                ConditionKind::PathExistsGlob => crate::condition::glob_matches(p),
                ConditionKind::PathIsDirectory => p.is_dir(),
                ConditionKind::FileNotEmpty => p
                    .metadata()
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false),
                ConditionKind::DirectoryNotEmpty => std::fs::read_dir(p)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false),
                ConditionKind::FileIsExecutable => p
                    .metadata()
                    .map(|m| {
                        m.is_file()
                            && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111
                                != 0
                    })
                    .unwrap_or(false),
                ConditionKind::PathIsSymbolicLink => p.is_symlink(),
                ConditionKind::PathIsMountPoint => is_mount_point(p),
                ConditionKind::PathIsReadWrite => is_read_write(p),
                ConditionKind::FirstBoot => {
                    let machine_id = if self.cfg.boot {
                        std::path::PathBuf::from("/etc/machine-id")
                    } else {
                        self.cfg.etc_dir.join("machine-id")
                    };
                    let want = crate::unit::parse::parse_bool(&c.value).unwrap_or(true);
                    crate::condition::first_boot(&machine_id) == want
                }
                ConditionKind::NeedsUpdate => crate::condition::needs_update(p),
                ConditionKind::Virtualization => {
                    crate::condition::virtualization(&c.value).unwrap_or(true)
                }
                ConditionKind::Capability => c
                    .value
                    .strip_prefix("CAP_")
                    .and_then(|n| crate::unit::parse::CAPS.iter().position(|x| *x == n))
                    .is_none_or(|i| crate::condition::capability(i as u32)),
                ConditionKind::Security => crate::condition::security(&c.value).unwrap_or(true),
                ConditionKind::ACPower => {
                    let want = crate::unit::parse::parse_bool(&c.value).unwrap_or(true);
                    crate::condition::ac_power() == want
                }
                ConditionKind::KernelCommandLine => {
                    let v = &c.value;
                    self.cfg
                        .kernel_cmdline
                        .split_whitespace()
                        .any(|w| w == v || (!v.contains('=') && w.split('=').next() == Some(v)))
                }
            };
            let what = format!(
                "{}{:?} {}{}{}",
                if asserts { "Assert" } else { "Condition" },
                c.kind,
                if c.trigger { "|" } else { "" },
                if c.negate { "!" } else { "" },
                c.value
            );
            if c.trigger {
                triggers.push(what);
                trigger_met |= ok != c.negate;
            } else if ok == c.negate {
                return Err(format!("{what} not met"));
            }
        }
        if !triggers.is_empty() && !trigger_met {
            return Err(format!("none of {} met", triggers.join(", ")));
        }
        Ok(())
    }

    fn begin_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        if let Some(e) = &u.load_error {
            self.say(&format!("{n}: cannot start: {e}"));
            self.rt.entry(n.clone()).or_default().result = Some(format!("load error: {e}"));
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        // Requirements ordered before us must be up; otherwise fail as a dependency.
        let deps: Vec<String> = u
            .deps
            .requires
            .iter()
            .chain(&u.deps.binds_to)
            .chain(&u.deps.requisite)
            .cloned()
            .collect();
        for d in deps {
            if let Some(e) = self.set.units.get(&d).and_then(|du| du.load_error.clone()) {
                self.rt.entry(n.clone()).or_default().result = Some(format!("dependency {d}: {e}"));
                self.logs
                    .push(&n, &format!("required unit {d} cannot be loaded: {e}"));
                self.finish_job(&n, JobResult::Dependency);
                return;
            }
            let ordered = self.engine.ordered_after(&n).any(|a| *a == d);
            let st = self.state_of(&d);
            // A required oneshot (modprobe@.service) that ran to a clean end is inactive
            // again, yet its job succeeded: that satisfies Requires=, as in systemd.
            let ran_clean = st == ActiveState::Inactive
                && u.deps.requires.contains(&d)
                && !u.deps.requisite.contains(&d)
                && !u.deps.binds_to.contains(&d)
                && self
                    .rt
                    .get(&d)
                    .is_some_and(|r| r.last_start.is_some() && r.result.is_none());
            if (ordered || u.deps.requisite.contains(&d))
                && !st.is_active()
                && !ran_clean
                && !self.engine.has_job(&d)
            {
                self.rt.entry(n.clone()).or_default().result =
                    Some(format!("dependency {d} is {}", st.as_str()));
                self.logs.push(&n, &format!("dependency {d} is not active"));
                self.finish_job(&n, JobResult::Dependency);
                return;
            }
        }
        if let Err(m) = self.check_conditions(u, false) {
            self.logs.push(&n, &format!("skipped: {m}"));
            self.finish_job(&n, JobResult::Skipped);
            return;
        }
        if let Err(m) = self.check_conditions(u, true) {
            self.rt.entry(n.clone()).or_default().result = Some(m.clone());
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        if self.state_of(&n).is_active()
            && !matches!(self.rt.get(&n).map(Rt::ph), Some(Phase::AutoRestart))
        {
            self.finish_job(&n, JobResult::Done);
            return;
        }
        match &u.config {
            KindConfig::Target => {
                self.set_state(&n, ActiveState::Active, "active");
                self.finish_job(&n, JobResult::Done);
                self.maybe_shutdown_target(&n);
            }
            KindConfig::Service(s) => {
                let s = (**s).clone();
                if s.service_type == ServiceType::Idle && self.busy_besides(&n) {
                    // Type=idle waits until other jobs are done (at most 5 s), like systemd.
                    // The job stays running in the engine and the unit is parked; the loop
                    // keeps handling events and `start_idle` starts it when the time comes.
                    let since = match self.idle_since {
                        Some(s) if !self.idle_waiting.is_empty() => s,
                        _ => now(),
                    };
                    self.idle_since = Some(since);
                    if since.elapsed() < IDLE_MAX_WAIT {
                        self.idle_waiting.insert(n);
                        return;
                    }
                }
                self.service_start(u, &s);
            }
            KindConfig::Socket(_) => self.socket_start(u),
            KindConfig::Timer(_) => {
                self.rt.entry(n.clone()).or_default().last_trigger = None;
                self.set_state(&n, ActiveState::Active, "waiting");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Mount(_) => self.mount_start(u),
            KindConfig::Path(c) => {
                let c = (**c).clone();
                self.path_start(&n, &c);
            }
        }
    }

    fn busy_besides(&self, n: &str) -> bool {
        self.engine.jobs.values().any(|j| {
            j.unit != n
                && j.running
                && self
                    .set
                    .get(&j.unit)
                    .and_then(|u| u.service())
                    .is_none_or(|s| s.service_type != ServiceType::Idle)
        })
    }

    fn maybe_shutdown_target(&mut self, n: &str) {
        let kind = match n {
            "poweroff.target" => ShutdownKind::Poweroff,
            "reboot.target" => ShutdownKind::Reboot,
            "halt.target" => ShutdownKind::Halt,
            _ => return,
        };
        self.begin_shutdown(kind);
    }

    fn service_start(&mut self, u: &Unit, s: &ServiceConfig) {
        let n = u.name.clone();
        // Start rate limit: counts every attempt, automatic restarts included.
        let interval = u.start_limit_interval;
        let burst = u.start_limit_burst as usize;
        let rt = self.rt.entry(n.clone()).or_default();
        let t = now();
        while rt
            .starts
            .front()
            .is_some_and(|s| t.duration_since(*s) > interval)
        {
            rt.starts.pop_front();
        }
        if !interval.is_zero() && burst > 0 && rt.starts.len() >= burst {
            rt.result = Some(format!(
                "start-limit-hit: {} starts within {:?}; refusing to start (b8gctl reset-failed {n} clears this)",
                rt.starts.len(),
                interval
            ));
            rt.phase = Some(Phase::Idle);
            rt.restart_at = None;
            self.set_state(&n, ActiveState::Failed, "failed");
            self.finish_job(&n, JobResult::Failed);
            self.degraded = true;
            return;
        }
        rt.starts.push_back(t);
        rt.last_start = Some(t);
        rt.result = None;
        rt.main_exit = None;
        rt.explicit_stop = false;
        rt.restart_at = None;
        rt.status_text = None;
        rt.ready = false;
        rt.exited_main = false;
        rt.notify_refused = 0;
        rt.pgids.clear();
        self.counter += 1;
        rt.invocation = format!(
            "{:x}{:08x}",
            self.start.elapsed().as_nanos() as u64,
            self.counter
        );
        // Directories.
        let x = &s.exec;
        let uid_gid = x
            .user
            .as_ref()
            .and_then(|usr| exec::lookup_user(&self.cfg.etc_dir, usr).ok())
            .map(|u| (u.uid, u.gid));
        let dirs = [
            (
                &x.runtime_directories,
                &self.cfg.run_dir,
                x.runtime_directory_mode,
            ),
            (
                &x.state_directories,
                &self.cfg.state_dir,
                x.state_directory_mode,
            ),
            (
                &x.logs_directories,
                &self.cfg.logs_dir,
                x.logs_directory_mode,
            ),
            (
                &x.cache_directories,
                &self.cfg.cache_dir,
                x.cache_directory_mode,
            ),
        ];
        // The service owns what it asked for here and may have planted a symlink
        // beneath it since its last run: never follow one (systemd refuses a
        // non-directory in the way too).
        let setup = dirs.iter().try_for_each(|(list, root, mode)| {
            list.iter().try_for_each(|d| {
                crate::safefs::prepare_dir(root, d, mode.unwrap_or(0o755), uid_gid)
            })
        });
        if let Err(e) = setup {
            self.logs
                .push(&n, &format!("cannot set up exec directory: {e}"));
            self.rt.entry(n.clone()).or_default().result = Some("resources".into());
            self.fail_start(&n, "resources");
            return;
        }
        let (phase, sub) = if s.exec_condition.is_empty() {
            (Phase::StartPre, "start-pre")
        } else {
            (Phase::Condition, "condition")
        };
        self.set_state(&n, ActiveState::Activating, sub);
        let rt = self.rt.entry(n.clone()).or_default();
        rt.phase = Some(phase);
        rt.idx = 0;
        rt.deadline = s
            .start_timeout(self.cfg.default_timeout_start)
            .and_then(|d| now().checked_add(d));
        self.advance(&n);
    }

    fn svc(&self, n: &str) -> Option<ServiceConfig> {
        self.set.units.get(n).and_then(|u| u.service().cloned())
    }

    /// Moves a service's state machine forward after a process finished or a phase began.
    fn advance(&mut self, n: &str) {
        let Some(s) = self.svc(n) else { return };
        loop {
            let (phase, idx) = {
                let rt = self.rt.entry(n.to_string()).or_default();
                (rt.ph(), rt.idx)
            };
            match phase {
                Phase::Condition => {
                    if idx < s.exec_condition.len() {
                        if self.spawn(n, &s, &s.exec_condition[idx], Role::Control) {
                            return;
                        }
                        self.fail_start(n, "exec");
                        return;
                    }
                    self.set_phase(n, Phase::StartPre);
                    self.set_state(n, ActiveState::Activating, "start-pre");
                }
                Phase::StartPre => {
                    if idx < s.exec_start_pre.len() {
                        if self.spawn(n, &s, &s.exec_start_pre[idx], Role::Control) {
                            return;
                        }
                        self.fail_start(n, "exec");
                        return;
                    }
                    self.set_phase(n, Phase::Start);
                    self.set_state(n, ActiveState::Activating, "start");
                }
                Phase::Start => {
                    let st = s.service_type;
                    if st == ServiceType::Oneshot {
                        if idx < s.exec_start.len() {
                            if self.spawn(n, &s, &s.exec_start[idx], Role::Main) {
                                return;
                            }
                            self.fail_start(n, "exec");
                            return;
                        }
                        self.set_phase(n, Phase::StartPost);
                        continue;
                    }
                    if idx == 0 {
                        let role = if st == ServiceType::Forking {
                            Role::Control
                        } else {
                            Role::Main
                        };
                        let Some(cmd) = s.exec_start.first() else {
                            self.set_phase(n, Phase::StartPost);
                            continue;
                        };
                        if !self.spawn(n, &s, cmd, role) {
                            self.fail_start(n, "exec");
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx = 1;
                        let waits = st == ServiceType::Forking
                            || st == ServiceType::Notify
                            || s.notification_fd.is_some();
                        if waits {
                            return;
                        }
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    let waits_ready =
                        s.service_type == ServiceType::Notify || s.notification_fd.is_some();
                    if waits_ready && !rt.ready {
                        return;
                    }
                    self.set_phase(n, Phase::StartPost);
                }
                Phase::PidFile => {
                    let Some(pf) = &s.pid_file else {
                        self.set_phase(n, Phase::StartPost);
                        continue;
                    };
                    let pending = pid_file_pending(pf);
                    if pending && self.unit_alive(n) {
                        if idx == 0 {
                            self.logs
                                .push(n, &format!("waiting for PID file {}", pf.display()));
                            self.rt.entry(n.to_string()).or_default().idx = 1;
                        }
                        return;
                    }
                    match self.main_pid_from_file(n, pf) {
                        Ok(mp) => {
                            self.adopt_main_pid(n, mp);
                            self.set_phase(n, Phase::StartPost);
                        }
                        Err(why) => {
                            let why = if pending {
                                format!("{why}; no process of the unit is left to write it")
                            } else {
                                why
                            };
                            self.logs.push(n, &why);
                            self.rt.entry(n.to_string()).or_default().result =
                                Some("protocol".into());
                            self.fail_start(n, "protocol");
                            return;
                        }
                    }
                }
                Phase::StartPost => {
                    if idx < s.exec_start_post.len() {
                        if self.spawn(n, &s, &s.exec_start_post[idx], Role::Control) {
                            return;
                        }
                        self.fail_start(n, "exec");
                        return;
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    rt.phase = Some(Phase::Running);
                    rt.deadline = None;
                    rt.restarts = if rt.restart_at.is_none() {
                        rt.restarts
                    } else {
                        0
                    };
                    rt.watchdog_at = s.watchdog.and_then(|w| now().checked_add(w));
                    let main_alive = rt.main_pid.is_some();
                    let sub = if main_alive { "running" } else { "exited" };
                    self.set_state(n, ActiveState::Active, sub);
                    self.finish_job(n, JobResult::Done);
                    // Nothing left to supervise: a finished oneshot, or a service whose main
                    // process already exited. A forking service without PIDFile= has no
                    // known main process and stays active, as if RemainAfterExit=yes.
                    if !main_alive
                        && !s.remain_after_exit
                        && (s.service_type != ServiceType::Forking || s.pid_file.is_some())
                    {
                        self.enter_stop(n, false);
                    }
                    return;
                }
                Phase::Reload => {
                    if idx < s.exec_reload.len()
                        && self.spawn(n, &s, &s.exec_reload[idx], Role::Control)
                    {
                        return;
                    }
                    let rt = self.rt.entry(n.to_string()).or_default();
                    rt.phase = Some(Phase::Running);
                    rt.deadline = None;
                    let sub = if rt.main_pid.is_some() {
                        "running"
                    } else {
                        "exited"
                    };
                    self.set_state(n, ActiveState::Active, sub);
                    self.finish_job(n, JobResult::Done);
                    return;
                }
                Phase::Stop => {
                    if idx < s.exec_stop.len() {
                        if self.spawn(n, &s, &s.exec_stop[idx], Role::Control) {
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx += 1;
                        continue;
                    }
                    self.enter_sigterm(n, &s);
                    return;
                }
                Phase::StopSigterm | Phase::StopSigkill => {
                    if !self.unit_alive(n) {
                        self.set_phase(n, Phase::StopPost);
                        let rt = self.rt.entry(n.to_string()).or_default();
                        rt.deadline = s
                            .timeout_stop
                            .resolve(self.cfg.default_timeout_stop)
                            .and_then(|d| now().checked_add(d));
                        continue;
                    }
                    return;
                }
                Phase::StopPost => {
                    if idx < s.exec_stop_post.len() {
                        if self.spawn(n, &s, &s.exec_stop_post[idx], Role::Control) {
                            return;
                        }
                        self.rt.entry(n.to_string()).or_default().idx += 1;
                        continue;
                    }
                    self.finalize(n, &s);
                    return;
                }
                Phase::Running | Phase::Idle | Phase::AutoRestart => return,
            }
        }
    }

    fn set_phase(&mut self, n: &str, p: Phase) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.phase = Some(p);
        rt.idx = 0;
    }

    fn fail_start(&mut self, n: &str, why: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.result.is_none() {
            rt.result = Some(why.to_string());
        }
        if let Some(s) = self.svc(n) {
            self.enter_sigterm(n, &s);
        }
    }

    /// Begins stopping: ExecStop= (only if the service got started), then signals.
    fn enter_stop(&mut self, n: &str, explicit: bool) {
        let Some(s) = self.svc(n) else { return };
        let rt = self.rt.entry(n.to_string()).or_default();
        if explicit {
            rt.explicit_stop = true;
        }
        let was_running = rt.ph() == Phase::Running;
        rt.watchdog_at = None;
        rt.deadline = s
            .timeout_stop
            .resolve(self.cfg.default_timeout_stop)
            .and_then(|d| now().checked_add(d));
        self.set_state(n, ActiveState::Deactivating, "stop");
        if was_running {
            self.set_phase(n, Phase::Stop);
            self.advance(n);
        } else {
            self.enter_sigterm(n, &s);
        }
    }

    fn enter_sigterm(&mut self, n: &str, s: &ServiceConfig) {
        let timeout = s.timeout_stop.resolve(self.cfg.default_timeout_stop);
        self.set_phase(n, Phase::StopSigterm);
        self.set_state(n, ActiveState::Deactivating, "stop-sigterm");
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.deadline = timeout.and_then(|d| now().checked_add(d));
        let main = rt.main_pid;
        let control = rt.control_pid;
        match s.kill_mode {
            KillMode::ControlGroup => {
                for p in self.unit_procs(n) {
                    kill(p, s.kill_signal);
                    kill(p, libc::SIGCONT);
                    if s.send_sighup {
                        kill(p, libc::SIGHUP);
                    }
                }
            }
            KillMode::Mixed | KillMode::Process => {
                for p in main.into_iter().chain(control) {
                    kill(p, s.kill_signal);
                    kill(p, libc::SIGCONT);
                    if s.send_sighup {
                        kill(p, libc::SIGHUP);
                    }
                }
            }
            KillMode::None => {}
        }
        self.advance(n);
    }

    fn enter_sigkill(&mut self, n: &str, s: &ServiceConfig) {
        let procs = self.unit_procs(n);
        let rt = self.rt.entry(n.to_string()).or_default();
        let blockers: Vec<String> = procs.iter().map(|p| describe_pid(*p)).collect();
        rt.phase = Some(Phase::StopSigkill);
        rt.deadline = Some(now() + Duration::from_secs(5));
        if rt.result.is_none() {
            rt.result = Some("timeout".into());
        }
        let main = rt.main_pid;
        self.logs.push(
            n,
            &format!("stop timed out; sending SIGKILL to {}", blockers.join(", ")),
        );
        match s.kill_mode {
            KillMode::ControlGroup | KillMode::Mixed => {
                procs.iter().for_each(|p| kill(*p, libc::SIGKILL))
            }
            KillMode::Process => main.iter().for_each(|p| kill(*p, libc::SIGKILL)),
            KillMode::None => {}
        }
        self.advance(n);
    }

    /// Whether processes of the unit that we must wait for remain.
    fn unit_alive(&self, n: &str) -> bool {
        let Some(rt) = self.rt.get(n) else {
            return false;
        };
        let mode = self
            .svc(n)
            .map(|s| s.kill_mode)
            .unwrap_or(KillMode::ControlGroup);
        if rt.control_pid.is_some() {
            return true;
        }
        // KillMode=none leaves every process running and waits for none of them.
        if mode == KillMode::None {
            return false;
        }
        if rt.main_pid.is_some() {
            return true;
        }
        match mode {
            KillMode::ControlGroup => !self.unit_procs(n).is_empty(),
            // With mixed, leftovers get SIGKILL at the end of stopping; with process and none they stay.
            KillMode::Mixed => {
                let procs = self.unit_procs(n);
                procs.iter().for_each(|p| kill(*p, libc::SIGKILL));
                false
            }
            _ => false,
        }
    }

    /// Processes of a unit: members of its process groups or sessions, or carriers of
    /// its invocation marker in the environment (daemons that made their own session).
    fn unit_procs(&self, n: &str) -> Vec<i32> {
        let Some(rt) = self.rt.get(n) else {
            return vec![];
        };
        if rt.invocation.is_empty() {
            return vec![];
        }
        if let Some(cg) = self.unit_cgroup(n) {
            if let Ok(t) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                return t.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
        let marker = format!("B8G_INVOCATION={}", rt.invocation);
        let mut v = Vec::new();
        for (pid, pgid, sid, state) in list_procs() {
            if pid == std::process::id() as i32 || state == 'Z' {
                continue;
            }
            if rt.pgids.contains(&pgid)
                || rt.pgids.contains(&sid)
                || Some(pid) == rt.main_pid
                || Some(pid) == rt.control_pid
            {
                v.push(pid);
                continue;
            }
            if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                if env.split(|b| *b == 0).any(|e| e == marker.as_bytes()) {
                    v.push(pid);
                }
            }
        }
        v
    }

    fn finalize(&mut self, n: &str, s: &ServiceConfig) {
        let u = self.set.units.get(n).cloned();
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.deadline = None;
        rt.phase = Some(Phase::Idle);
        rt.main_pid = None;
        rt.control_pid = None;
        rt.ready_fd = None;
        rt.conn_fd = None;
        let failed = rt.result.is_some();
        let explicit = rt.explicit_stop;
        let restart_job = std::mem::take(&mut rt.restart_job);
        let skipped = std::mem::take(&mut rt.condition_skipped);
        let result = rt.result.clone().unwrap_or_default();
        for d in &s.exec.runtime_directories {
            // The service may have planted a symlink above `d`: never remove through it.
            if let Err(e) = crate::safefs::remove_beneath(&self.cfg.run_dir, d) {
                self.logs
                    .push(n, &format!("cannot remove runtime directory: {e}"));
            }
        }
        if let Some(cg) = self.unit_cgroup(n) {
            let _ = std::fs::remove_dir(cg);
        }
        let clean = !failed;
        let restart = !explicit
            && !skipped
            && self.shutdown.is_none()
            && match s.restart {
                RestartPolicy::No => false,
                RestartPolicy::Always => true,
                RestartPolicy::OnSuccess => clean,
                RestartPolicy::OnFailure => !clean,
                RestartPolicy::OnAbnormal => {
                    result.starts_with("signal") || result == "timeout" || result == "watchdog"
                }
                RestartPolicy::OnAbort => result.starts_with("signal"),
                RestartPolicy::OnWatchdog => result == "watchdog",
            }
            && !result.starts_with("start-limit");
        if failed {
            self.set_state(n, ActiveState::Failed, "failed");
            self.degraded = true;
        } else {
            self.set_state(n, ActiveState::Inactive, "dead");
        }
        // A start job still pending means the start never completed.
        if let Some(j) = self.engine.jobs.get(n).map(|j| j.kind) {
            match j {
                JobKind::Start => self.finish_job(
                    n,
                    if failed {
                        JobResult::Failed
                    } else {
                        JobResult::Done
                    },
                ),
                JobKind::Stop => self.finish_job(n, JobResult::Done),
                JobKind::Restart if restart_job => {
                    if let Some(u) = &u {
                        self.service_start(u, s);
                        return;
                    }
                }
                _ => {}
            }
        }
        if self.rt.get(n).is_some_and(|r| r.transient) && !self.engine.has_job(n) {
            // Connection instances would otherwise pile up, one per accepted connection.
            self.read_log(n);
            self.logs.forget(n);
            self.rt.remove(n);
            self.set.units.remove(n);
            self.engine.rebuild(&self.set);
            return;
        }
        if restart {
            let rt = self.rt.entry(n.to_string()).or_default();
            rt.restarts += 1;
            let mut delay = s.restart_sec;
            if let Some(max) = s.restart_max_delay {
                // Exponential backoff from RestartSec= up to RestartMaxDelaySec=.
                let f = 2u32.saturating_pow(rt.restarts.saturating_sub(1).min(16));
                delay = s
                    .restart_sec
                    .max(Duration::from_millis(1))
                    .checked_mul(f)
                    .unwrap_or(max)
                    .min(max);
            }
            rt.restart_at = now().checked_add(delay);
            rt.phase = Some(Phase::AutoRestart);
            let count = rt.restarts;
            self.logs.push(
                n,
                &format!("scheduling restart #{count} in {} ms", delay.as_millis()),
            );
            self.set_state(n, ActiveState::Activating, "auto-restart");
            return;
        }
        if let Some(u) = &u {
            let bound: Vec<String> = self
                .set
                .units
                .values()
                .filter(|o| {
                    o.deps.binds_to.contains(n) && self.state_of(&o.name) != ActiveState::Inactive
                })
                .map(|o| o.name.clone())
                .collect();
            for b in bound {
                let _ = self.stop_unit(&b);
            }
            if failed {
                for f in u.deps.on_failure.clone() {
                    let _ = self.start_unit(&f, false);
                }
            }
        }
    }

    fn spawn(&mut self, n: &str, s: &ServiceConfig, cmd: &ExecCommand, role: Role) -> bool {
        let Some(u) = self.set.units.get(n).cloned() else {
            return false;
        };
        // One log pipe per unit, reused by all its processes.
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.log_w.is_none() {
            let mut p = [0; 2];
            // SAFETY: pipe2 into a valid array.
            if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
                // SAFETY: fresh fds from pipe2.
                unsafe {
                    rt.log_r = Some(OwnedFd::from_raw_fd(p[0]));
                    rt.log_w = Some(OwnedFd::from_raw_fd(p[1]));
                }
            }
        }
        let log_fd = rt.log_w.as_ref().map(|f| f.as_raw_fd()).unwrap_or(2);
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("INVOCATION_ID".into(), rt.invocation.clone()),
            ("B8G_INVOCATION".into(), rt.invocation.clone()),
            ("B8G_UNIT".into(), n.to_string()),
            (
                "RUNTIME_DIRECTORY".into(),
                s.exec
                    .runtime_directories
                    .iter()
                    .map(|d| self.cfg.run_dir.join(d).display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            (
                "STATE_DIRECTORY".into(),
                s.exec
                    .state_directories
                    .iter()
                    .map(|d| self.cfg.state_dir.join(d).display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
        ];
        env.retain(|(_, v)| !v.is_empty());
        if s.notify_access() != NotifyAccess::None {
            env.push((
                "NOTIFY_SOCKET".into(),
                self.cfg.notify_socket().display().to_string(),
            ));
        }
        if let Some(w) = s.watchdog {
            env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
        }
        if let Some(p) = rt.main_pid {
            env.push(("MAINPID".into(), p.to_string()));
        }
        env.push((
            "B8G_CONTROL_SOCKET".into(),
            self.cfg.control_socket.display().to_string(),
        ));
        env.extend(s.exec.environment.iter().cloned());
        for (f, optional) in &s.exec.environment_files {
            match exec::read_env_file(f) {
                Ok(v) => env.extend(v),
                Err(e) if !optional => {
                    self.logs.push(
                        n,
                        &format!(
                            "{}: cannot read EnvironmentFile {}: {e}",
                            cmd.location,
                            f.display()
                        ),
                    );
                    self.rt.entry(n.to_string()).or_default().result = Some("resources".into());
                    return false;
                }
                Err(_) => {}
            }
        }
        // Socket activation: fds of the sockets that trigger this service.
        let mut pass = Vec::new();
        let mut names = Vec::new();
        if role == Role::Main || s.service_type == ServiceType::Forking {
            let rt = self.rt.get(n);
            if let Some(c) = rt.and_then(|r| r.conn_fd.as_ref()) {
                pass.push(c.as_raw_fd());
                names.push("connection".to_string());
            } else {
                for sock in self.sockets_for(&u) {
                    if let (Some(srt), Some(su)) = (self.rt.get(&sock), self.set.units.get(&sock)) {
                        let fname = match &su.config {
                            KindConfig::Socket(c) => c
                                .fd_name
                                .clone()
                                .unwrap_or_else(|| sock.trim_end_matches(".socket").to_string()),
                            _ => sock.clone(),
                        };
                        for fd in &srt.listen_fds {
                            pass.push(fd.as_raw_fd());
                            names.push(fname.clone());
                        }
                    }
                }
            }
        }
        if !names.is_empty() {
            env.push(("LISTEN_FDNAMES".into(), names.join(":")));
        }
        let mut extra = Vec::new();
        let mut ready_r = None;
        if let (Some(fd), Role::Main) = (s.notification_fd, role) {
            let mut p = [0; 2];
            // SAFETY: pipe2 into a valid array.
            if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
                // SAFETY: fresh fds.
                let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
                extra.push((fd, w.as_raw_fd()));
                ready_r = Some((r, w));
            }
        }
        let console = self.cfg.console.clone();
        let cgroup_procs = self.unit_cgroup(n).and_then(|cg| {
            std::fs::create_dir_all(&cg).ok()?;
            std::ffi::CString::new(cg.join("cgroup.procs").display().to_string()).ok()
        });
        let conn = self
            .rt
            .get(n)
            .and_then(|r| r.conn_fd.as_ref())
            .map(|c| c.as_raw_fd());
        let spec = SpawnSpec {
            cmd,
            ctx: &s.exec,
            env,
            pass_fds: pass,
            extra_fds: extra,
            log_fd,
            console: console.as_deref(),
            etc_dir: &self.cfg.etc_dir,
            socket_stdio: conn.filter(|_| matches!(s.exec.stdin, Some(crate::unit::StdIo::Socket))),
            cgroup_procs,
        };
        match exec::spawn(&spec, cmd.privileged) {
            Ok(pid) => {
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.pgids.insert(pid);
                match role {
                    Role::Main => rt.main_pid = Some(pid),
                    Role::Control => rt.control_pid = Some(pid),
                }
                if let Some((r, _w)) = ready_r {
                    rt.ready_fd = Some(r);
                }
                self.pids.insert(pid, (n.to_string(), role));
                self.logs
                    .push(n, &format!("started {} (pid {pid})", cmd.argv.join(" ")));
                true
            }
            Err(e) => {
                self.logs
                    .push(n, &format!("{}: failed to execute: {e}", cmd.location));
                self.say(&format!("{n}: {}: failed to execute: {e}", cmd.location));
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.result = Some("exec".into());
                false
            }
        }
    }

    fn sockets_for(&self, u: &Unit) -> Vec<String> {
        let mut v: Vec<String> = u.service().map(|s| s.sockets.clone()).unwrap_or_default();
        for o in self.set.units.values() {
            if let KindConfig::Socket(c) = &o.config {
                if !c.accept
                    && self
                        .set
                        .resolve(&load::socket_service(o, c.service.as_deref()))
                        == u.name
                    && !v.contains(&o.name)
                {
                    v.push(o.name.clone());
                }
            }
        }
        v
    }

    // ---------------------------------------------------------------- stopping

    fn begin_stop(&mut self, u: &Unit) {
        let n = u.name.clone();
        match &u.config {
            KindConfig::Service(_) => {
                let ph = self.rt.get(&n).map(Rt::ph).unwrap_or(Phase::Idle);
                match ph {
                    Phase::Idle => {
                        let rt = self.rt.entry(n.clone()).or_default();
                        rt.result = None;
                        self.set_state(&n, ActiveState::Inactive, "dead");
                        self.finish_job(&n, JobResult::Done);
                    }
                    Phase::AutoRestart => {
                        let rt = self.rt.entry(n.clone()).or_default();
                        rt.restart_at = None;
                        rt.phase = Some(Phase::Idle);
                        self.set_state(&n, ActiveState::Inactive, "dead");
                        self.finish_job(&n, JobResult::Done);
                    }
                    Phase::Stop | Phase::StopSigterm | Phase::StopSigkill | Phase::StopPost => {
                        self.rt.entry(n.clone()).or_default().explicit_stop = true;
                    }
                    Phase::Running => self.enter_stop(&n, true),
                    _ => {
                        self.rt.entry(n.clone()).or_default().explicit_stop = true;
                        if let Some(s) = self.svc(&n) {
                            // Stopping during start: a pending start job is canceled.
                            self.enter_sigterm(&n, &s);
                        }
                    }
                }
            }
            KindConfig::Socket(c) => {
                let rt = self.rt.entry(n.clone()).or_default();
                rt.listen_fds.clear();
                if c.remove_on_stop {
                    for l in &c.listen {
                        if l.address.starts_with('/') {
                            let _ = std::fs::remove_file(&l.address);
                        }
                    }
                }
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Mount(m) => {
                let flags = if m.lazy_unmount { libc::MNT_DETACH } else { 0 };
                if self.state_of(&n).is_active() {
                    if let Err(e) = umount(&m.where_, flags) {
                        self.logs
                            .push(&n, &format!("unmount {}: {e}", m.where_.display()));
                    }
                }
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            KindConfig::Path(_) => {
                let rt = self.rt.entry(n.clone()).or_default();
                rt.path_watch = None;
                rt.triggers.clear();
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
            _ => {
                self.set_state(&n, ActiveState::Inactive, "dead");
                self.finish_job(&n, JobResult::Done);
            }
        }
    }

    fn begin_reload(&mut self, u: &Unit) {
        let n = u.name.clone();
        if !self.state_of(&n).is_active() {
            self.finish_job(&n, JobResult::Failed);
            return;
        }
        match u.service() {
            Some(s) if !s.exec_reload.is_empty() => {
                self.set_phase(&n, Phase::Reload);
                self.set_state(&n, ActiveState::Reloading, "reload");
                let t = s.start_timeout(self.cfg.default_timeout_start);
                self.rt.entry(n.clone()).or_default().deadline =
                    t.and_then(|d| now().checked_add(d));
                self.advance(&n);
            }
            _ => self.finish_job(&n, JobResult::Done),
        }
    }

    // ---------------------------------------------------------------- processes

    fn handle_signals(&mut self) {
        let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        loop {
            // SAFETY: reading into a correctly sized buffer from our signalfd.
            let r =
                unsafe { libc::read(self.sigfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r != buf.len() as isize {
                break;
            }
            // SAFETY: the buffer holds one signalfd_siginfo.
            let info: libc::signalfd_siginfo =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
            let sig = info.ssi_signo as i32;
            match signal_action(sig) {
                SignalAction::Nothing => {}
                SignalAction::CtrlAltDel => {
                    if self.extras.ctrlaltdel.is_empty() {
                        self.say("received SIGINT (ctrl-alt-del): rebooting");
                        self.begin_shutdown(ShutdownKind::Reboot);
                    } else {
                        for c in self.extras.ctrlaltdel.clone() {
                            let _ = self.run_sh(&c);
                        }
                    }
                }
                SignalAction::Shutdown(kind) => {
                    self.say(&format!(
                        "received {} from pid {}: {}",
                        shutdown_signal_name(sig),
                        info.ssi_pid,
                        match kind {
                            ShutdownKind::Poweroff => "powering off",
                            ShutdownKind::Reboot => "rebooting",
                            ShutdownKind::Halt => "halting",
                        }
                    ));
                    self.begin_shutdown(kind);
                }
                SignalAction::PowerFail => {
                    for c in self.extras.powerfail.clone() {
                        let _ = self.run_sh(&c);
                    }
                }
                SignalAction::Reload => {
                    self.say("received SIGHUP: reloading units");
                    self.reload_units();
                }
            }
        }
        self.reap();
    }

    fn run_sh(&mut self, cmd: &str) -> Option<i32> {
        let c = ExecCommand {
            argv: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            ignore_failure: true,
            custom_argv0: false,
            privileged: true,
            expand: false,
            location: "inittab".into(),
        };
        let ctx = crate::unit::ExecContext::default();
        let spec = SpawnSpec {
            cmd: &c,
            ctx: &ctx,
            env: vec![],
            pass_fds: vec![],
            extra_fds: vec![],
            log_fd: 2,
            console: None,
            etc_dir: &self.cfg.etc_dir,
            socket_stdio: None,
            cgroup_procs: None,
        };
        match exec::spawn(&spec, true) {
            Ok(pid) => Some(pid),
            Err(e) => {
                self.say(&format!("cannot run {cmd:?}: {e}"));
                None
            }
        }
    }

    /// Reaps every exited child, ours or adopted.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if let Some((n, role)) = self.pids.remove(&pid) {
                self.child_exited(&n, pid, role, status);
            }
        }
    }

    /// The main pid a forking service's PID file names, under systemd's rule: a file
    /// not owned by root (the service may have written anything) must name one of the
    /// unit's own processes; never PID 1 or a dead process.
    fn main_pid_from_file(&self, n: &str, pf: &Path) -> Result<i32, String> {
        use std::os::unix::fs::MetadataExt;
        // The service may have put a FIFO (open or read would block PID 1 for ever), a
        // device or a huge file there: only a small regular file is read.
        let (text, owner) = crate::safefs::read_regular_with_owner(pf, PID_FILE_MAX)
            .map_err(|e| format!("refused PID file: {e}"))?;
        // Both the link and the file read: a symlink planted by the service counts as its.
        let root_owned = owner == 0 && std::fs::symlink_metadata(pf).is_ok_and(|m| m.uid() == 0);
        let p = text.trim().parse::<i32>().unwrap_or(0).max(0);
        let check = notify::MainPidCheck {
            manager_pid: std::process::id() as i32,
            control_pid: None,
            belongs: p > 0 && self.unit_of_pid(p).as_deref() == Some(n),
            alive: p > 0 && notify::alive(p),
        };
        let voucher = || "the PID file's owner".to_string();
        notify::check_main_pid(&text, root_owned, voucher, &check)
            .map_err(|e| format!("refused PID file {}: {e}", pf.display()))
    }

    fn adopt_main_pid(&mut self, n: &str, mp: i32) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.main_pid = Some(mp);
        rt.pgids.insert(mp);
        self.pids.insert(mp, (n.to_string(), Role::Main));
    }

    fn child_exited(&mut self, n: &str, pid: i32, role: Role, status: i32) {
        let Some(s) = self.svc(n) else { return };
        self.read_log(n);
        let desc = describe_status(status);
        let rt = self.rt.entry(n.to_string()).or_default();
        let clean_code = libc::WIFEXITED(status)
            && (libc::WEXITSTATUS(status) == 0
                || s.success_exit_status.contains(&libc::WEXITSTATUS(status)));
        let clean_sig = libc::WIFSIGNALED(status)
            && ([libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE]
                .contains(&libc::WTERMSIG(status))
                || s.success_signals.contains(&libc::WTERMSIG(status)));
        let clean = clean_code || clean_sig;
        let phase = rt.ph();
        let cmd_ignores =
            |list: &Vec<ExecCommand>, idx: usize| list.get(idx).is_some_and(|c| c.ignore_failure);
        match role {
            Role::Control => {
                rt.control_pid = None;
                let list = match phase {
                    Phase::Condition => &s.exec_condition,
                    Phase::StartPre => &s.exec_start_pre,
                    Phase::Start => &s.exec_start,
                    Phase::StartPost => &s.exec_start_post,
                    Phase::Reload => &s.exec_reload,
                    Phase::Stop => &s.exec_stop,
                    Phase::StopPost => &s.exec_stop_post,
                    _ => &s.exec_start,
                };
                let idx = if phase == Phase::Start { 0 } else { rt.idx };
                let ok = clean_code || cmd_ignores(list, idx);
                self.logs.push(n, &format!("control process {pid} {desc}"));
                if phase == Phase::Start && s.service_type == ServiceType::Forking {
                    if !ok {
                        rt.result = Some(result_of(status));
                        self.fail_start(n, "exit-code");
                        return;
                    }
                    // The daemon may write its PID file a little after the parent exits:
                    // as systemd, wait for it (until the start timeout, while the unit
                    // has processes) unless ExecStartPost= may be what writes it.
                    let next = match &s.pid_file {
                        Some(_) if s.exec_start_post.is_empty() => Phase::PidFile,
                        Some(pf) => {
                            if let Ok(mp) = self.main_pid_from_file(n, pf) {
                                self.adopt_main_pid(n, mp);
                            }
                            Phase::StartPost
                        }
                        None => Phase::StartPost,
                    };
                    self.set_phase(n, next);
                    self.advance(n);
                    return;
                }
                if !ok {
                    match phase {
                        // systemd.service(5): exit 1–254 skips the unit (the rest of its
                        // commands too, ExecStopPost= still runs) without failing it;
                        // 255 or a signal fails it.
                        Phase::Condition
                            if libc::WIFEXITED(status)
                                && (1..=254).contains(&libc::WEXITSTATUS(status)) =>
                        {
                            self.logs.push(
                                n,
                                &format!(
                                    "skipped: ExecCondition= exited with status {}",
                                    libc::WEXITSTATUS(status)
                                ),
                            );
                            rt.condition_skipped = true;
                            self.enter_sigterm(n, &s);
                            return;
                        }
                        Phase::Condition | Phase::StartPre | Phase::StartPost => {
                            rt.result = Some(result_of(status));
                            self.fail_start(n, "exit-code");
                            return;
                        }
                        Phase::Reload => {
                            self.logs.push(n, "reload failed");
                        }
                        _ => {}
                    }
                }
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.idx += 1;
                if matches!(phase, Phase::StopSigterm | Phase::StopSigkill) {
                    rt.idx = 0;
                }
                self.advance(n);
            }
            Role::Main => {
                if rt.main_pid != Some(pid) {
                    return;
                }
                rt.main_pid = None;
                rt.main_exit = Some(desc.clone());
                self.logs.push(n, &format!("main process {pid} {desc}"));
                let rt = self.rt.entry(n.to_string()).or_default();
                match phase {
                    Phase::Start if s.service_type == ServiceType::Oneshot => {
                        if clean || cmd_ignores(&s.exec_start, rt.idx) {
                            rt.idx += 1;
                            self.advance(n);
                        } else {
                            rt.result = Some(result_of(status));
                            self.fail_start(n, "exit-code");
                        }
                    }
                    Phase::Condition | Phase::StartPre | Phase::Start | Phase::StartPost => {
                        if !clean && !cmd_ignores(&s.exec_start, 0) {
                            rt.result = Some(result_of(status));
                        } else if phase == Phase::Start
                            && !rt.ready
                            && (s.service_type == ServiceType::Notify
                                || s.notification_fd.is_some())
                        {
                            rt.result = Some("protocol".into());
                            self.logs
                                .push(n, "main process exited before signalling readiness");
                        }
                        if rt.result.is_some() {
                            self.fail_start(n, "exit-code");
                        } else if phase == Phase::StartPost {
                            rt.exited_main = true;
                        } else {
                            self.set_phase(n, Phase::StartPost);
                            self.advance(n);
                        }
                    }
                    Phase::Running | Phase::Reload => {
                        if !clean && !cmd_ignores(&s.exec_start, 0) {
                            rt.result = Some(result_of(status));
                        }
                        if s.remain_after_exit && rt.result.is_none() {
                            self.set_state(n, ActiveState::Active, "exited");
                        } else {
                            self.enter_stop(n, false);
                        }
                    }
                    _ => self.advance(n),
                }
            }
        }
    }

    fn read_log(&mut self, n: &str) {
        let Some(rt) = self.rt.get_mut(n) else { return };
        let Some(r) = &rt.log_r else { return };
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: reading into a stack buffer from our nonblocking pipe.
            let k = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if k <= 0 {
                break;
            }
            rt.log_buf.extend_from_slice(&buf[..k as usize]);
        }
        let mut lines = Vec::new();
        while let Some(pos) = rt.log_buf.iter().position(|b| *b == b'\n') {
            let l: Vec<u8> = rt.log_buf.drain(..=pos).collect();
            lines.push(String::from_utf8_lossy(&l[..l.len() - 1]).into_owned());
        }
        if rt.log_buf.len() > 4096 {
            lines.push(String::from_utf8_lossy(&std::mem::take(&mut rt.log_buf)).into_owned());
        }
        let to_console = self
            .set
            .units
            .get(n)
            .and_then(|u| u.service())
            .is_some_and(|s| matches!(s.exec.stdout, Some(crate::unit::StdIo::LogAndConsole)));
        // SyslogIdentifier= tags each captured line, as the journal would.
        let ident = self
            .set
            .units
            .get(n)
            .and_then(|u| u.service())
            .and_then(|s| s.exec.syslog_identifier.clone());
        for l in lines {
            let l = match &ident {
                Some(id) => format!("{id}: {l}"),
                None => l,
            };
            let f = self.logs.push(n, &l);
            if to_console {
                self.console(&f);
            }
        }
    }

    fn read_ready_fd(&mut self, n: &str) {
        let Some(rt) = self.rt.get_mut(n) else { return };
        let Some(r) = &rt.ready_fd else { return };
        let mut buf = [0u8; 256];
        // SAFETY: reading into a stack buffer.
        let k = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if k == 0 {
            rt.ready_fd = None;
            return;
        }
        if k > 0 && buf[..k as usize].contains(&b'\n') {
            rt.ready_fd = None;
            self.became_ready(n);
        }
    }

    fn became_ready(&mut self, n: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        if rt.ready {
            return;
        }
        rt.ready = true;
        self.logs.push(n, "ready");
        if rt.ph() == Phase::Start {
            self.set_phase(n, Phase::StartPost);
            self.advance(n);
        }
    }

    fn handle_notify(&mut self) {
        let Some(sock) = &self.notify else { return };
        let fd = sock.as_raw_fd();
        loop {
            let mut data = [0u8; 4096];
            let mut cbuf = [0u64; 64];
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            };
            // SAFETY: a zeroed msghdr filled with valid buffers.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
            // SAFETY: recvmsg on our socket with the buffers above.
            let k =
                unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
            if k < 0 {
                break;
            }
            let mut sender = None;
            let mut fds: Vec<OwnedFd> = Vec::new();
            // SAFETY: walking the control messages the kernel filled in.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_CREDENTIALS
                    {
                        let cred: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        sender = Some(Sender {
                            pid: cred.pid,
                            uid: cred.uid,
                        });
                    } else if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_RIGHTS
                    {
                        let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                        for i in 0..len / 4 {
                            let f: i32 =
                                std::ptr::read_unaligned((libc::CMSG_DATA(c) as *const i32).add(i));
                            fds.push(OwnedFd::from_raw_fd(f));
                        }
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            let text = String::from_utf8_lossy(&data[..k as usize]).into_owned();
            // Only the kernel's credentials name the sender; a datagram without them
            // (or from a pid outside our namespace, reported as 0) is nobody's.
            if let Some(sender) = sender.filter(|s| s.pid > 0) {
                if let Some(unit) = self.unit_of_pid(sender.pid) {
                    self.apply_notify(&unit, &text, sender);
                }
            }
            // Dropping `fds` closes BARRIER=1 fds: the sender knows we processed its message.
            drop(fds);
        }
    }

    /// The unit a process belongs to, by what the kernel says: its cgroup when units
    /// have cgroups, else a tracked main or control process among its ancestors (walked
    /// through `/proc/<pid>/stat`, bounded), else its process group or session. Never by
    /// the process's environment: any process can set `B8G_INVOCATION=`.
    fn unit_of_pid(&self, pid: i32) -> Option<String> {
        let me = std::process::id() as i32;
        if pid <= 0 || pid == me {
            return None;
        }
        if let Some((n, _)) = self.pids.get(&pid) {
            return Some(n.clone());
        }
        if self.cgroup_root.is_some() {
            if let Some(dir) = notify::cgroup_of(pid)
                .and_then(|cg| notify::unit_dir_in(&cg, "/b8g").map(str::to_string))
            {
                return self.rt.keys().find(|n| n.replace('/', "_") == dir).cloned();
            }
        }
        let mut owner = None;
        notify::find_ancestor(pid, me, |p| match self.pids.get(&p) {
            Some((n, _)) => {
                owner = Some(n.clone());
                true
            }
            None => false,
        });
        if owner.is_some() {
            return owner;
        }
        let (_, _, pgid, sid) = notify::stat(pid)?;
        self.rt
            .iter()
            .find(|(_, rt)| {
                // Groups of a unit that is down are history: their numbers may be reused.
                !matches!(rt.st(), ActiveState::Inactive | ActiveState::Failed)
                    && (rt.pgids.contains(&pgid) || rt.pgids.contains(&sid))
            })
            .map(|(n, _)| n.clone())
    }

    /// Notes a refused notification, at most a few times per start: a service that
    /// floods the socket must not fill the log.
    fn notify_refused(&mut self, n: &str, why: &str) {
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.notify_refused += 1;
        match rt.notify_refused {
            1..=8 => {
                self.logs.push(n, why);
            }
            9 => {
                self.logs
                    .push(n, "further refused notifications are not logged");
            }
            _ => {}
        }
    }

    fn apply_notify(&mut self, n: &str, text: &str, sender: Sender) {
        let Some(s) = self.svc(n) else { return };
        let (role, control_pid) = {
            let rt = self.rt.entry(n.to_string()).or_default();
            let role = if rt.main_pid == Some(sender.pid) {
                SenderRole::Main
            } else if rt.control_pid == Some(sender.pid) {
                SenderRole::Control
            } else {
                SenderRole::Other
            };
            (role, rt.control_pid)
        };
        let access = s.notify_access();
        if !notify::authorized(access, role) {
            self.notify_refused(
                n,
                &format!(
                    "refused notification from pid {} ({role:?} process, NotifyAccess={access:?})",
                    sender.pid
                ),
            );
            return;
        }
        for line in text.lines() {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            match k {
                "READY" if v == "1" => {
                    self.became_ready(n);
                }
                "STATUS" => {
                    let v: String = v.chars().take(256).collect();
                    self.logs.push(n, &format!("status: {v}"));
                    self.rt.entry(n.to_string()).or_default().status_text = Some(v);
                }
                "MAINPID" => {
                    // Malformed values fail in check_main_pid; 0 matches no process.
                    let p = v.trim().parse::<i32>().unwrap_or(0).max(0);
                    let check = notify::MainPidCheck {
                        manager_pid: std::process::id() as i32,
                        control_pid,
                        belongs: p > 0 && self.unit_of_pid(p).as_deref() == Some(n),
                        alive: p > 0 && notify::alive(p),
                    };
                    let voucher = || format!("the sender (uid {})", sender.uid);
                    match notify::check_main_pid(v, sender.uid == 0, voucher, &check) {
                        Ok(p) => {
                            let rt = self.rt.entry(n.to_string()).or_default();
                            if let Some(old) = rt.main_pid {
                                self.pids.remove(&old);
                            }
                            rt.main_pid = Some(p);
                            self.pids.insert(p, (n.to_string(), Role::Main));
                        }
                        Err(e) => self.notify_refused(n, &format!("refused MAINPID={v}: {e}")),
                    }
                }
                "STOPPING" if v == "1" => {
                    self.logs.push(n, "service reports it is stopping");
                }
                "WATCHDOG" if v == "1" => {
                    if let Some(w) = s.watchdog {
                        self.rt.entry(n.to_string()).or_default().watchdog_at =
                            now().checked_add(w);
                    }
                }
                _ => {}
            }
        }
    }

    // ---------------------------------------------------------------- time

    fn handle_deadlines(&mut self) {
        let t = now();
        let names: Vec<String> = self.rt.keys().cloned().collect();
        for n in names {
            let Some(rt) = self.rt.get(&n) else { continue };
            let (deadline, restart_at, wd, phase) =
                (rt.deadline, rt.restart_at, rt.watchdog_at, rt.ph());
            if let Some(s) = self.svc(&n) {
                if matches!(
                    phase,
                    Phase::StopSigterm | Phase::StopSigkill | Phase::PidFile
                ) {
                    self.advance(&n);
                }
                let phase = self.rt.get(&n).map(Rt::ph).unwrap_or(Phase::Idle);
                if deadline.is_some_and(|d| d <= t) {
                    self.rt.entry(n.clone()).or_default().deadline = None;
                    match phase {
                        Phase::Condition
                        | Phase::StartPre
                        | Phase::Start
                        | Phase::PidFile
                        | Phase::StartPost => {
                            self.logs.push(&n, "start timed out");
                            self.rt.entry(n.clone()).or_default().result = Some("timeout".into());
                            self.enter_sigterm(&n, &s);
                        }
                        Phase::Reload => {
                            self.logs.push(&n, "reload timed out");
                            self.set_phase(&n, Phase::Running);
                            self.set_state(&n, ActiveState::Active, "running");
                            self.finish_job(&n, JobResult::Failed);
                        }
                        Phase::Stop => {
                            if let Some(c) = self.rt.get(&n).and_then(|r| r.control_pid) {
                                kill(c, libc::SIGKILL);
                            }
                            self.enter_sigterm(&n, &s);
                        }
                        Phase::StopSigterm => {
                            if s.send_sigkill {
                                self.enter_sigkill(&n, &s);
                            } else {
                                self.set_phase(&n, Phase::StopPost);
                                self.advance(&n);
                            }
                        }
                        Phase::StopSigkill => {
                            let left: Vec<String> = self
                                .unit_procs(&n)
                                .iter()
                                .map(|p| describe_pid(*p))
                                .collect();
                            self.say(&format!(
                                "{n}: processes survived SIGKILL: {}",
                                left.join(", ")
                            ));
                            let rt = self.rt.entry(n.clone()).or_default();
                            rt.main_pid = None;
                            rt.control_pid = None;
                            self.set_phase(&n, Phase::StopPost);
                            self.advance(&n);
                        }
                        Phase::StopPost => {
                            if let Some(c) = self.rt.get(&n).and_then(|r| r.control_pid) {
                                kill(c, libc::SIGKILL);
                            }
                            self.finalize(&n, &s);
                        }
                        _ => {}
                    }
                }
                if wd.is_some_and(|d| d <= t) && phase == Phase::Running {
                    self.logs.push(&n, "watchdog timeout");
                    let rt = self.rt.entry(n.clone()).or_default();
                    rt.watchdog_at = None;
                    rt.result = Some("watchdog".into());
                    if let Some(p) = rt.main_pid {
                        kill(p, libc::SIGABRT);
                    }
                    self.enter_stop(&n, false);
                }
                if restart_at.is_some_and(|d| d <= t) && phase == Phase::AutoRestart {
                    self.rt.entry(n.clone()).or_default().restart_at = None;
                    if let Some(u) = self.set.units.get(&n).cloned() {
                        // Restarts go through the engine so ordering still holds.
                        self.set_state(&n, ActiveState::Activating, "auto-restart");
                        let st: BTreeMap<String, ActiveState> =
                            self.rt.iter().map(|(k, v)| (k.clone(), v.st())).collect();
                        let me = u.name.clone();
                        let f = move |x: &str| {
                            if x == me {
                                ActiveState::Inactive
                            } else {
                                st.get(x).copied().unwrap_or(ActiveState::Inactive)
                            }
                        };
                        if self.engine.start(&self.set, &u.name, false, &f).is_err() {
                            self.set_state(&n, ActiveState::Failed, "failed");
                        }
                        self.rt.entry(n.clone()).or_default().phase = Some(Phase::Idle);
                        self.state_reset_for_restart(&n);
                    }
                }
            }
            // Timers.
            if self
                .set
                .units
                .get(&n)
                .is_some_and(|u| matches!(u.config, KindConfig::Timer(_)))
                && self.state_of(&n) == ActiveState::Active
            {
                if let Some(next) = self.timer_next(&n) {
                    if next <= now() {
                        let target = self.set.units.get(&n).map(|u| match &u.config {
                            KindConfig::Timer(c) => self
                                .set
                                .resolve(&load::triggered_unit(u, c.unit.as_deref()))
                                .to_string(),
                            _ => String::new(),
                        });
                        self.rt.entry(n.clone()).or_default().last_trigger = Some(now().max(next));
                        if let Some(target) = target {
                            self.logs.push(&n, &format!("elapsed; starting {target}"));
                            if let Err(e) = self.start_unit(&target, false) {
                                self.logs.push(&n, &format!("cannot start {target}: {e}"));
                            }
                        }
                    }
                }
            }
        }
    }

    fn state_reset_for_restart(&mut self, n: &str) {
        // The unit is "inactive" for the engine so the start job actually runs.
        let rt = self.rt.entry(n.to_string()).or_default();
        rt.state = Some(ActiveState::Activating);
    }

    fn timer_next(&self, n: &str) -> Option<Instant> {
        let u = self.set.units.get(n)?;
        let KindConfig::Timer(c) = &u.config else {
            return None;
        };
        let rt = self.rt.get(n)?;
        // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
        // jobs and runtime are kept under the unit's own name.
        let target = self
            .set
            .resolve(&load::triggered_unit(u, c.unit.as_deref()))
            .to_string();
        let trt = self.rt.get(&target);
        let last = rt.last_trigger;
        let mut cands: Vec<Instant> = Vec::new();
        let after_last = |i: Instant| last.is_none_or(|l| i > l);
        for d in &c.on_boot {
            cands.extend(self.start.checked_add(*d));
        }
        if let Some(a) = rt.activated {
            for d in &c.on_active {
                cands.extend(a.checked_add(*d));
            }
        }
        if let Some(ls) = trt.and_then(|r| r.last_start) {
            for d in &c.on_unit_active {
                cands.extend(ls.checked_add(*d));
            }
        }
        if let Some(li) = trt.and_then(|r| r.inactive_since) {
            for d in &c.on_unit_inactive {
                cands.extend(li.checked_add(*d));
            }
        }
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let t = now();
        for cal in &c.on_calendar {
            let base = last
                .map(|l| wall - t.saturating_duration_since(l).as_secs() as i64)
                .unwrap_or(wall - 1);
            if let Some(next) = cal.next_after(base) {
                cands.extend(t.checked_add(Duration::from_secs((next - wall).max(0) as u64)));
            }
        }
        cands.into_iter().filter(|i| after_last(*i)).min()
    }

    // ---------------------------------------------------------------- path units

    fn path_start(&mut self, n: &str, c: &PathConfig) {
        if c.make_directory {
            for (kind, p) in &c.watches {
                if matches!(kind, PathWatch::Exists | PathWatch::ExistsGlob) {
                    continue;
                }
                let made = std::fs::create_dir_all(p).and_then(|()| {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(c.directory_mode))
                });
                if let Err(e) = made {
                    self.logs
                        .push(n, &format!("cannot create {}: {e}", p.display()));
                }
            }
        }
        match PathWatcher::new(&c.watches) {
            Ok(w) => {
                let rt = self.rt.entry(n.to_string()).or_default();
                rt.path_watch = Some(w);
                rt.triggers.clear();
                self.set_state(n, ActiveState::Active, "waiting");
                self.finish_job(n, JobResult::Done);
            }
            Err(e) => {
                self.logs.push(n, &format!("cannot watch: {e}"));
                self.rt.entry(n.to_string()).or_default().result = Some("resources".into());
                self.set_state(n, ActiveState::Failed, "failed");
                self.finish_job(n, JobResult::Failed);
            }
        }
    }

    fn path_config(&self, n: &str) -> Option<PathConfig> {
        match &self.set.units.get(n)?.config {
            KindConfig::Path(c) => Some((**c).clone()),
            _ => None,
        }
    }

    fn path_event(&mut self, n: &str) {
        let Some(c) = self.path_config(n) else {
            return;
        };
        let fired = self
            .rt
            .get_mut(n)
            .and_then(|rt| rt.path_watch.as_mut())
            .and_then(|w| w.read_events(&c.watches));
        if let Some(spec) = fired {
            let (kind, p) = &c.watches[spec];
            let why = format!("{} {}", pathwatch::describe(*kind), p.display());
            self.path_trigger(n, &c, &why);
        }
    }

    /// Level conditions trigger whenever they hold and the unit they start is
    /// inactive: at start, after events, and when that unit stops again. A
    /// failed unit is not started again by a level condition (no busy loop).
    fn path_check_levels(&mut self) {
        let waiting: Vec<String> = self
            .rt
            .iter()
            .filter(|(_, rt)| rt.st() == ActiveState::Active && rt.path_watch.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for n in waiting {
            let Some(c) = self.path_config(&n) else {
                continue;
            };
            let Some(u) = self.set.units.get(&n) else {
                continue;
            };
            // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
            // jobs and runtime are kept under the unit's own name.
            let target = self
                .set
                .resolve(&load::triggered_unit(u, c.unit.as_deref()))
                .to_string();
            let idle = self.state_of(&target) == ActiveState::Inactive
                && !self.engine.jobs.values().any(|j| j.unit == target);
            if !idle {
                continue;
            }
            if let Some(why) = pathwatch::level_holds(&c.watches) {
                self.path_trigger(&n, &c, &why);
            }
        }
    }

    fn path_trigger(&mut self, n: &str, c: &PathConfig, why: &str) {
        let Some(u) = self.set.units.get(n) else {
            return;
        };
        // Unit=/Service= may name an alias (syslog.service → rsyslog.service): state,
        // jobs and runtime are kept under the unit's own name.
        let target = self
            .set
            .resolve(&load::triggered_unit(u, c.unit.as_deref()))
            .to_string();
        let t = now();
        let rt = self.rt.entry(n.to_string()).or_default();
        while rt
            .triggers
            .front()
            .is_some_and(|f| t.saturating_duration_since(*f) > c.trigger_limit_interval)
        {
            rt.triggers.pop_front();
        }
        rt.triggers.push_back(t);
        if rt.triggers.len() > c.trigger_limit_burst as usize {
            rt.path_watch = None;
            rt.result = Some("trigger-limit-hit".into());
            self.logs.push(
                n,
                &format!(
                    "triggered more than {} times in {:?}: trigger-limit-hit",
                    c.trigger_limit_burst, c.trigger_limit_interval
                ),
            );
            self.set_state(n, ActiveState::Failed, "failed");
            return;
        }
        self.logs.push(n, &format!("{why}: starting {target}"));
        if let Err(e) = self.start_unit(&target, false) {
            self.logs.push(n, &format!("cannot start {target}: {e}"));
        }
    }

    // ---------------------------------------------------------------- sockets

    fn socket_start(&mut self, u: &Unit) {
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

    fn socket_wants_poll(&self, sock: &str) -> bool {
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

    fn socket_ready(&mut self, sock: &str, fd: RawFd) {
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

    fn mount_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Mount(m) = &u.config else {
            return;
        };
        let _ = std::fs::create_dir_all(&m.where_);
        match do_mount(
            &m.what,
            &m.where_,
            m.fs_type.as_deref(),
            m.options.as_deref().unwrap_or(""),
        ) {
            Ok(()) => {
                self.set_state(&n, ActiveState::Active, "mounted");
                self.finish_job(&n, JobResult::Done);
            }
            Err(e) => {
                self.logs.push(
                    &n,
                    &format!("mount {} on {}: {e}", m.what, m.where_.display()),
                );
                self.rt.entry(n.clone()).or_default().result = Some(format!("mount: {e}"));
                self.set_state(&n, ActiveState::Failed, "failed");
                self.finish_job(&n, JobResult::Failed);
            }
        }
    }

    // ---------------------------------------------------------------- control

    fn handle_control(&mut self) {
        loop {
            let Some(l) = &self.control else { return };
            let Ok((stream, _)) = l.accept() else { return };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            self.serve(stream);
        }
    }

    fn serve(&mut self, stream: UnixStream) {
        let mut line = String::new();
        let Ok(read) = stream.try_clone() else { return };
        if BufReader::new(read).read_line(&mut line).is_err() {
            return;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => self.request(&req),
            Err(e) => Response::err(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_string(&resp).unwrap_or_else(|_| "{\"ok\":false}".into());
        out.push('\n');
        let mut w = stream;
        let _ = w.write_all(out.as_bytes());
    }

    fn unit_json(&self, n: &str) -> serde_json::Value {
        let u = self.set.get(n);
        let name = self.set.resolve(n);
        let rt = self.rt.get(name);
        let st = self.state_of(name);
        json!({
            "name": name,
            "description": u.and_then(|u| u.description.clone()),
            "load": match u { None => "not-found".to_string(), Some(u) => u.load_error.clone().map(|e| format!("error: {e}")).unwrap_or_else(|| "loaded".into()) },
            "active": st.as_str(),
            "sub": rt.map(|r| r.sub).filter(|s| !s.is_empty()).unwrap_or("dead"),
            "result": rt.and_then(|r| r.result.clone()),
            "main_pid": rt.and_then(|r| r.main_pid),
            "status": rt.and_then(|r| r.status_text.clone()),
            "restarts": rt.map(|r| r.restarts).unwrap_or(0),
            "job": self.engine.jobs.get(name).map(|j| j.kind),
            "sources": u.map(|u| u.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()).unwrap_or_default(),
            // systemctl show's LoadState=.
            "load_state": match u.map(|u| u.load_error.as_deref()) {
                None | Some(Some("unit not found")) => "not-found",
                Some(Some(load::MASKED)) => "masked",
                Some(Some(_)) => "error",
                Some(None) => "loaded",
            },
            "names": std::iter::once(name)
                .chain(self.set.aliases.iter().filter(|(_, t)| *t == name).map(|(a, _)| a.as_str()))
                .collect::<Vec<_>>(),
            "service_type": u.and_then(Unit::service).map(|s| format!("{:?}", s.service_type).to_lowercase()),
            "control_pid": rt.and_then(|r| r.control_pid),
        })
    }

    fn system_state(&self) -> &'static str {
        if self.shutdown.is_some() {
            "stopping"
        } else if !self.ready_reported {
            "starting"
        } else if self.degraded || self.rt.values().any(|r| r.st() == ActiveState::Failed) {
            "degraded"
        } else {
            "running"
        }
    }

    /// Queues the jobs of a start/stop/restart/reload/isolate request. The reply names
    /// every unit whose job the request queued or changed (the whole transaction:
    /// dependents stopped with a requirement, units stopped by Conflicts=), so that a
    /// blocking client can wait for all of them, not just for the unit it named.
    fn queue_request(&mut self, req: &Request) -> Response {
        let before: BTreeMap<String, JobKind> = self
            .engine
            .jobs
            .iter()
            .map(|(n, j)| (n.clone(), j.kind))
            .collect();
        let mut errs = Vec::new();
        for u in &req.units {
            let r = match req.cmd.as_str() {
                "start" => self.start_unit(u, false),
                "isolate" => self.start_unit(u, true),
                "stop" => self.stop_unit(u),
                "restart" | "try-restart" | "reload-or-restart" => {
                    let st = self.state_of(self.set.resolve(u));
                    let stopped = matches!(
                        st,
                        ActiveState::Inactive | ActiveState::Failed | ActiveState::Deactivating
                    );
                    let reloads = self
                        .set
                        .units
                        .get(self.set.resolve(u))
                        .and_then(Unit::service)
                        .is_some_and(|s| !s.exec_reload.is_empty());
                    match req.cmd.as_str() {
                        // systemctl(1): try-restart does nothing to a unit that is not
                        // running.
                        "try-restart" if stopped => Ok(()),
                        "restart" | "reload-or-restart" if stopped => self.start_unit(u, false),
                        "reload-or-restart" if reloads => self
                            .engine
                            .restart_or_reload(&self.set, u, JobKind::Reload)
                            .map_err(|e| e.to_string()),
                        _ => self
                            .engine
                            .restart_or_reload(&self.set, u, JobKind::Restart)
                            .map_err(|e| e.to_string()),
                    }
                }
                _ => self
                    .engine
                    .restart_or_reload(&self.set, u, JobKind::Reload)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = r {
                errs.push(e);
            }
        }
        if !errs.is_empty() {
            return Response::err(errs.join("; "));
        }
        let queued: Vec<&String> = self
            .engine
            .jobs
            .iter()
            .filter(|(n, j)| before.get(*n) != Some(&j.kind))
            .map(|(n, _)| n)
            .collect();
        Response::ok(json!({ "jobs": queued }))
    }

    fn request(&mut self, req: &Request) -> Response {
        let units = &req.units;
        if matches!(
            req.cmd.as_str(),
            "start"
                | "isolate"
                | "stop"
                | "restart"
                | "try-restart"
                | "reload-or-restart"
                | "reload"
        ) {
            return self.queue_request(req);
        }
        match req.cmd.as_str() {
            "status" => {
                if units.is_empty() {
                    Response::ok(json!({
                        "state": self.system_state(),
                        "units": self.set.units.len(),
                        "jobs": self.engine.jobs.len(),
                        "failed": self.rt.iter().filter(|(_, r)| r.st() == ActiveState::Failed).map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                        "uptime_ms": self.start.elapsed().as_millis() as u64,
                    }))
                } else {
                    for u in units {
                        self.ensure_loaded(u);
                    }
                    Response::ok(json!(units
                        .iter()
                        .map(|u| self.unit_json(u))
                        .collect::<Vec<_>>()))
                }
            }
            "reset-failed" => {
                let names: Vec<String> = if units.is_empty() {
                    self.rt.keys().cloned().collect()
                } else {
                    units
                        .iter()
                        .map(|u| self.set.resolve(u).to_string())
                        .collect()
                };
                for n in names {
                    if let Some(rt) = self.rt.get_mut(&n) {
                        rt.starts.clear();
                        rt.restarts = 0;
                        if rt.st() == ActiveState::Failed {
                            rt.state = Some(ActiveState::Inactive);
                            rt.sub = "dead";
                            rt.result = None;
                        }
                    }
                }
                self.degraded = false;
                Response::ok(json!(null))
            }
            "list-units" => {
                let v: Vec<_> = self
                    .set
                    .units
                    .keys()
                    .filter(|n| self.rt.contains_key(*n) || self.set.units[*n].load_error.is_some())
                    .map(|n| self.unit_json(n))
                    .collect();
                Response::ok(json!(v))
            }
            "list-dependencies" => {
                let root = units
                    .first()
                    .cloned()
                    .unwrap_or_else(|| self.cfg.default_target.clone());
                Response::ok(self.dep_tree(self.set.resolve(&root), &mut BTreeSet::new()))
            }
            "is-system-running" => Response::ok(json!(self.system_state())),
            "log" => {
                let n = units
                    .first()
                    .map(|u| self.set.resolve(u).to_string())
                    .unwrap_or_else(|| MANAGER.to_string());
                Response::ok(json!(self.logs.since(&n, req.after)))
            }
            "daemon-reload" => {
                self.reload_units();
                Response::ok(json!(null))
            }
            "poweroff" | "reboot" | "halt" => {
                let k = match req.cmd.as_str() {
                    "poweroff" => ShutdownKind::Poweroff,
                    "reboot" => ShutdownKind::Reboot,
                    _ => ShutdownKind::Halt,
                };
                self.begin_shutdown(k);
                Response::ok(json!(null))
            }
            "telinit" => match units.first().and_then(|l| sysv::runlevel_target(l)) {
                Some(t) => match self.start_unit(t, true) {
                    Ok(()) => Response::ok(json!(t)),
                    Err(e) => Response::err(e),
                },
                None => Response::err("unknown runlevel"),
            },
            "jobs" => Response::ok(json!(self.engine.jobs.values().collect::<Vec<_>>())),
            // Where unit files come from, so that b8gctl enable/disable/mask edit the
            // directories this b8g-init reads.
            "paths" => Response::ok(json!({
                "unit_dirs": self.cfg.unit_dirs,
                "install_enables": self.cfg.install_enables,
            })),
            "kill" => self.kill_request(req),
            "list-timers" => Response::ok(self.timers_json()),
            other => Response::err(format!("unknown command {other:?}")),
        }
    }

    /// `systemctl kill`: a signal to the unit's main, control or all processes. The
    /// unit's state is not changed by the request itself, only by what the signal does.
    fn kill_request(&mut self, req: &Request) -> Response {
        let sig = req.signal.unwrap_or(libc::SIGTERM);
        let whom = req.whom.as_deref().unwrap_or("all");
        let mut errs = Vec::new();
        for u in &req.units {
            self.ensure_loaded(u);
            let n = self.set.resolve(u).to_string();
            let rt = self.rt.get(&n);
            let pids: Vec<i32> = match whom {
                "main" => rt.and_then(|r| r.main_pid).into_iter().collect(),
                "control" => rt.and_then(|r| r.control_pid).into_iter().collect(),
                "all" => self.unit_procs(&n),
                other => return Response::err(format!("invalid --kill-whom value {other:?}")),
            };
            if pids.is_empty() && whom != "all" {
                errs.push(format!("No {whom} process to kill"));
                continue;
            }
            for p in pids {
                kill(p, sig);
            }
        }
        if errs.is_empty() {
            Response::ok(json!(null))
        } else {
            Response::err(errs.join("; "))
        }
    }

    /// Timers for `systemctl list-timers`: next and last elapse as wall-clock
    /// microseconds since the epoch (null when none), and the unit each activates.
    fn timers_json(&self) -> serde_json::Value {
        let wall_us = |i: Instant| -> Option<u64> {
            let t = now();
            let nowu = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?
                .as_micros() as u64;
            Some(if i >= t {
                nowu + (i - t).as_micros() as u64
            } else {
                nowu.saturating_sub((t - i).as_micros() as u64)
            })
        };
        let mut v = Vec::new();
        for (n, u) in &self.set.units {
            let KindConfig::Timer(c) = &u.config else {
                continue;
            };
            if !self.state_of(n).is_active() {
                continue;
            }
            v.push(json!({
                "unit": n,
                "activates": self.set.resolve(&load::triggered_unit(u, c.unit.as_deref())),
                "next_us": self.timer_next(n).and_then(wall_us),
                "last_us": self.rt.get(n).and_then(|r| r.last_trigger).and_then(wall_us),
            }));
        }
        json!(v)
    }

    fn dep_tree(&self, n: &str, seen: &mut BTreeSet<String>) -> serde_json::Value {
        let u = self.set.units.get(n);
        let mut children = Vec::new();
        if seen.insert(n.to_string()) {
            if let Some(u) = u {
                for d in u
                    .deps
                    .requires
                    .iter()
                    .chain(&u.deps.wants)
                    .chain(&u.deps.binds_to)
                    .collect::<BTreeSet<_>>()
                {
                    children.push(self.dep_tree(d, seen));
                }
            }
        }
        json!({"name": n, "active": self.state_of(n).as_str(), "deps": children})
    }

    // ---------------------------------------------------------------- shutdown

    pub fn begin_shutdown(&mut self, kind: ShutdownKind) {
        if self.shutdown.is_some() {
            return;
        }
        self.say(&format!("shutting down ({kind:?})"));
        self.shutdown = Some((kind, now(), self.shutdown_bound()));
        // Cancel queued starts, then stop everything in reverse dependency order.
        let queued: Vec<String> = self
            .engine
            .jobs
            .iter()
            .filter(|(_, j)| j.kind != JobKind::Stop && !j.running)
            .map(|(n, _)| n.clone())
            .collect();
        for q in queued {
            self.engine.finish(&self.set, &q, JobResult::Canceled);
        }
        let active: Vec<String> = self
            .rt
            .iter()
            .filter(|(_, r)| !matches!(r.st(), ActiveState::Inactive | ActiveState::Failed))
            .map(|(n, _)| n.clone())
            .collect();
        for n in active {
            let _ = self.stop_unit(&n);
        }
    }

    fn shutdown_bound(&self) -> Duration {
        shutdown_bound(
            self.cfg.default_timeout_stop,
            self.set.units.values().filter_map(Unit::service),
        )
    }

    fn check_shutdown_progress(&mut self) {
        let Some((kind, since, cap)) = self.shutdown else {
            return;
        };
        let busy = self.engine.jobs.values().any(|j| j.kind == JobKind::Stop)
            || self.rt.values().any(|r| {
                matches!(
                    r.ph(),
                    Phase::Stop | Phase::StopSigterm | Phase::StopSigkill | Phase::StopPost
                )
            });
        if busy && since.elapsed() < cap {
            return;
        }
        self.final_shutdown(kind);
    }

    fn final_shutdown(&mut self, kind: ShutdownKind) -> ! {
        // inittab `shutdown` actions run to completion (at most 10 s) before the kill.
        for c in self.extras.shutdown.clone() {
            if let Some(pid) = self.run_sh(&c) {
                let deadline = now() + Duration::from_secs(10);
                loop {
                    // SAFETY: waiting for our own child without blocking.
                    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                    if r != 0 || now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        self.say("sending SIGTERM to remaining processes");
        let pid1 = is_pid1();
        let targets = |_: ()| -> Vec<i32> { remaining_processes(pid1) };
        for p in targets(()) {
            kill(p, libc::SIGTERM);
            kill(p, libc::SIGCONT);
        }
        let deadline = now().checked_add(self.cfg.kill_grace).unwrap_or_else(now);
        while now() < deadline {
            self.reap();
            if targets(()).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = targets(());
        if !left.is_empty() {
            let names: Vec<String> = left.iter().map(|p| describe_pid(*p)).collect();
            self.say(&format!(
                "processes blocking shutdown, sending SIGKILL: {}",
                names.join(", ")
            ));
            for p in &left {
                kill(*p, libc::SIGKILL);
            }
            let d2 = now() + Duration::from_secs(2);
            while now() < d2 && !targets(()).is_empty() {
                self.reap();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.reap();
        if self.cfg.boot {
            // Bound sockets and open log files would keep /run and /var busy.
            self.control = None;
            self.notify = None;
            for rt in self.rt.values_mut() {
                rt.listen_fds.clear();
                rt.log_r = None;
                rt.log_w = None;
            }
            self.logs.close_files();
            unmount_all(self);
        }
        self.say("reached final stage, syncing");
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
        self.finished = true;
        let cmd = match kind {
            ShutdownKind::Poweroff => libc::LINUX_REBOOT_CMD_POWER_OFF,
            ShutdownKind::Reboot => libc::LINUX_REBOOT_CMD_RESTART,
            ShutdownKind::Halt => libc::LINUX_REBOOT_CMD_HALT,
        };
        if pid1 {
            // SAFETY: reboot(2); in a PID namespace it ends the namespace.
            unsafe { libc::reboot(cmd) };
            self.say(&format!(
                "reboot(2) failed: {}",
                std::io::Error::last_os_error()
            ));
            crate::boot::emergency_shell(&self.cfg);
        }
        std::process::exit(0);
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}
impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NOCTTY)
    }
}

fn kill(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

fn proc_stat(pid: i32) -> Option<(i32, i32, i32, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // state ppid pgrp session
    Some((
        f.get(1)?.parse().ok()?,
        f.get(2)?.parse().ok()?,
        f.get(3)?.parse().ok()?,
        f.first()?.chars().next()?,
    ))
}

/// (pid, pgid, sid, state) of every process.
fn list_procs() -> Vec<(i32, i32, i32, char)> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                if let Some((_, pg, sid, st)) = proc_stat(pid) {
                    v.push((pid, pg, sid, st));
                }
            }
        }
    }
    v
}

/// Processes to kill at the end: everything but us and kernel threads when PID 1,
/// otherwise only our descendants.
fn remaining_processes(pid1: bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parents: HashMap<i32, i32> = HashMap::new();
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                if let Some((ppid, _, _, st)) = proc_stat(pid) {
                    if st == 'Z' || pid == me {
                        continue;
                    }
                    // Kernel threads are children of kthreadd (pid 2) or pid 0.
                    if ppid == 2 || ppid == 0 {
                        continue;
                    }
                    parents.insert(pid, ppid);
                    v.push(pid);
                }
            }
        }
    }
    if pid1 {
        return v;
    }
    v.into_iter()
        .filter(|p| {
            let mut cur = *p;
            for _ in 0..64 {
                match parents.get(&cur) {
                    Some(pp) if *pp == me => return true,
                    Some(pp) => cur = *pp,
                    None => return false,
                }
            }
            false
        })
        .collect()
}

fn describe_pid(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    format!("{pid} ({})", comm.trim())
}

fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended with wait status {status}")
    }
}

fn result_of(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit-code {}", libc::WEXITSTATUS(status))
    }
}

fn uptime_ms() -> u64 {
    // SAFETY: clock_gettime into a local timespec.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts);
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    }
}

fn cstring(s: &str) -> Result<std::ffi::CString, std::io::Error> {
    std::ffi::CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// mount(2) with fstab-style options split into flags and data.
pub fn do_mount(
    what: &str,
    where_: &Path,
    fstype: Option<&str>,
    options: &str,
) -> Result<(), std::io::Error> {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" | "defaults" | "auto" | "noauto" | "nofail" | "user" | "nouser" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            "remount" => flags |= libc::MS_REMOUNT,
            o if o.starts_with("x-") => {}
            o => data.push(o),
        }
    }
    let what = cstring(what)?;
    let target = cstring(&where_.display().to_string())?;
    let ty = fstype.map(cstring).transpose()?;
    let data = cstring(&data.join(","))?;
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            what.as_ptr(),
            target.as_ptr(),
            ty.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
            flags,
            data.as_ptr().cast(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn umount(where_: &Path, flags: i32) -> Result<(), std::io::Error> {
    let t = cstring(&where_.display().to_string())?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(t.as_ptr(), flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `p` is where a file system is mounted (a line of /proc/self/mountinfo).
fn is_mount_point(p: &Path) -> bool {
    let Ok(real) = p.canonicalize() else {
        return false;
    };
    let real = real.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().nth(4) == Some(real.as_str()))
        })
        .unwrap_or(false)
}

/// Whether the file system holding `p` is mounted read-write.
fn is_read_write(p: &Path) -> bool {
    let Ok(c) = cstring(&p.display().to_string()) else {
        return false;
    };
    // SAFETY: statvfs fills a zeroed struct through a valid pointer.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY == 0
    }
}

/// Unmounts everything but the root in reverse mount order, each attempt bounded in
/// time by running it in a child; what cannot be unmounted is remounted read-only.
fn unmount_all(m: &mut Manager) {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut targets: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .collect();
    targets.reverse();
    for t in targets {
        if t == "/"
            || t == "/proc"
            || t == "/sys"
            || t == "/dev"
            || t.starts_with("/dev/")
            || t.starts_with("/sys/")
            || t.starts_with("/proc/")
        {
            continue;
        }
        let ok = bounded(Duration::from_secs(5), || umount(Path::new(&t), 0).is_ok());
        if !ok {
            let ro = bounded(Duration::from_secs(5), || {
                do_mount("none", Path::new(&t), None, "remount,ro").is_ok()
            });
            m.say(&format!(
                "could not unmount {t}; {}",
                if ro {
                    "remounted read-only"
                } else {
                    "remount read-only failed too"
                }
            ));
        }
    }
    let _ = bounded(Duration::from_secs(5), || {
        do_mount("none", Path::new("/"), None, "remount,ro").is_ok()
    });
}

/// Runs `f` in a forked child and waits at most `limit` for it.
fn bounded(limit: Duration, f: impl FnOnce() -> bool) -> bool {
    // SAFETY: single-threaded; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = f();
        // SAFETY: leaving the child without running destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    if pid < 0 {
        return false;
    }
    let deadline = now() + limit;
    loop {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
        }
        if now() > deadline {
            kill(pid, libc::SIGKILL);
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn open_listener(
    l: &crate::unit::Listen,
    c: &crate::unit::SocketConfig,
) -> Result<OwnedFd, std::io::Error> {
    if l.kind == ListenKind::Fifo {
        return open_fifo(l, c);
    }
    let ty = match l.kind {
        ListenKind::Stream | ListenKind::Fifo => libc::SOCK_STREAM,
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

/// `ListenFIFO=`: makes the named pipe (as systemd does: parent directories with
/// `DirectoryMode=`, the pipe with `SocketMode=`, an existing pipe kept) and opens it
/// read-write, so it becomes readable when a writer sends data and never hangs up.
fn open_fifo(
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

/// Runs the manager forever. Panics in an iteration are caught and logged; a burst of
/// them drops to the emergency shell. Returns only when not PID 1 and shut down.
pub fn run(mgr: &mut Manager) {
    let mut panics: VecDeque<Instant> = VecDeque::new();
    loop {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mgr.iterate()));
        if r.is_err() {
            let t = now();
            panics.push_back(t);
            while panics
                .front()
                .is_some_and(|p| t.duration_since(*p) > Duration::from_secs(10))
            {
                panics.pop_front();
            }
            mgr.say("internal error in the event loop; continuing");
            if panics.len() > 5 {
                mgr.say("too many internal errors; starting the emergency shell");
                crate::boot::emergency_shell(&mgr.cfg);
            }
        }
        if mgr.finished {
            return;
        }
    }
}

impl Manager {
    /// Logs a message from outside the loop (boot steps).
    pub fn note(&mut self, msg: &str) {
        self.say(msg);
    }
}

/// PID 1 must not return from main: if the loop ever ends, fall back to the shell.
pub fn never_exit(cfg: &Config) -> ! {
    crate::boot::emergency_shell(cfg)
}

/// Whether a forking service's PID file is still to come: missing, or a regular file
/// not yet holding a number (being written). Anything else is read and judged now.
fn pid_file_pending(pf: &Path) -> bool {
    match std::fs::symlink_metadata(pf) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) if m.is_file() => crate::safefs::read_regular(pf, PID_FILE_MAX)
            .is_ok_and(|t| t.trim().parse::<i32>().is_err()),
        Ok(_) => false,
    }
}

/// The overall bound on stopping units at shutdown. Per-unit timeouts bound each stop;
/// this only guards against bugs, so it must not cut a unit's own stop timeout short
/// (Debian's postgresql@.service asks for `TimeoutStopSec=1h`): three times the longest
/// one (ExecStop=, SIGTERM and ExecStopPost= each get it) plus slack. A unit without a
/// stop timeout counts as 10 min, which makes the bound systemd's own on shutdown,
/// poweroff.target's `JobTimeoutSec=30min`.
fn shutdown_bound<'a>(
    default_stop: Duration,
    services: impl Iterator<Item = &'a ServiceConfig>,
) -> Duration {
    let longest = services
        .map(|s| {
            s.timeout_stop
                .resolve(default_stop)
                .unwrap_or(Duration::from_secs(600))
        })
        .fold(default_stop, Duration::max);
    longest
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{Listen, SocketConfig, Timeout};

    #[test]
    fn unit_states_reach_the_console_only_while_starting_or_stopping() {
        // Regression (issue 21): a timer's service wrote "started"/"stopped" over the
        // shell every 15 s after boot.
        assert!(state_on_console(true, false, false, false));
        assert!(!state_on_console(true, true, false, false));
        assert!(state_on_console(true, true, true, false));
        assert!(state_on_console(true, true, false, true));
        assert!(!state_on_console(false, false, false, false));
    }

    #[test]
    fn manager_messages_reach_the_console_once() {
        // Regression (issue 21): without `quiet` every message showed twice, once
        // written to the console and once echoed by the kernel from /dev/kmsg.
        let dev = Some(Path::new("/dev/console"));
        assert_eq!(message_route(true, dev, Some(7)), MessageRoute::Kmsg);
        assert_eq!(message_route(true, dev, Some(8)), MessageRoute::Kmsg);
        // `quiet` (4) or `loglevel=6` and lower: the kernel keeps the record to itself.
        assert_eq!(
            message_route(true, dev, Some(4)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(
            message_route(true, dev, Some(6)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(message_route(true, dev, None), MessageRoute::ConsoleAndKmsg);
        let other = Some(Path::new("/dev/ttyS1"));
        assert_eq!(
            message_route(true, other, Some(7)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(message_route(false, dev, Some(7)), MessageRoute::Console);
        assert_eq!(message_route(false, None, Some(7)), MessageRoute::Console);
    }

    #[test]
    fn a_kmsg_record_is_one_line_in_one_write() {
        // Regression (issue 21): `writeln!` wrote prefix, message and newline as three
        // records, which the kernel printed on three lines.
        assert_eq!(
            kmsg_record("shutting down (Poweroff)"),
            b"<6>b8g-init: shutting down (Poweroff)\n"
        );
    }

    #[test]
    fn shutdown_waits_for_the_longest_stop_timeout() {
        // Regression: shutdown SIGKILLed everything after 3 × 10 s + 5 s, whatever a
        // unit's TimeoutStopSec= said.
        let default = Config::system_defaults("").default_timeout_stop;
        assert_eq!(default, Duration::from_secs(90));
        let svc = |t: Timeout| ServiceConfig {
            timeout_stop: t,
            ..ServiceConfig::default()
        };
        let hour = Duration::from_secs(3600);
        let postgres = [svc(Timeout::Default), svc(Timeout::After(hour))];
        assert!(shutdown_bound(default, postgres.iter()) > hour);
        let plain = [svc(Timeout::Default)];
        assert_eq!(
            shutdown_bound(default, plain.iter()),
            Duration::from_secs(275)
        );
        let never = [svc(Timeout::Never)];
        assert_eq!(
            shutdown_bound(default, never.iter()),
            Duration::from_secs(30 * 60 + 5)
        );
    }

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

    #[test]
    fn mount_options_are_split() {
        // A bogus file system type must fail cleanly, not panic.
        assert!(do_mount(
            "none",
            Path::new("/nonexistent-b8g"),
            Some("nosuchfs"),
            "ro,nosuid,size=1m"
        )
        .is_err());
    }
}
