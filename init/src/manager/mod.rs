//! The supervisor: PID 1's event loop. It owns the unit set, the job engine and every
//! child process; it reaps all zombies (orphans included), runs the service state
//! machine (Type=, Exec*, timeouts, KillMode, Restart= with backoff, start limits),
//! listens on sockets for activation, receives sd_notify datagrams, fires timers,
//! captures output into per-unit logs, serves the control socket and shuts down.
//! Single-threaded, no async runtime: one poll(2) over a signalfd and a few sockets.
//!
//! `Manager` is defined here; each concern is an `impl Manager` block in its own file:
//! jobs (the loop's iteration, starting and stopping), service (the state machine),
//! spawn, children (exits, PID files, output), notify_socket, syslog_socket (`/dev/log`
//! and forwarding), deadlines (timeouts, watchdogs, timers), sockets, paths, mounts,
//! control_server, signals, console and shutdown. Process and mount system calls are in `crate::sys`.

mod bus;
mod cgroups;
mod children;
mod console;
mod control_server;
mod deadlines;
mod devices;
mod generate;
mod jobs;
mod kmsg;
mod mounts;
mod notify_socket;
mod paths;
mod service;
mod shutdown;
mod signals;
mod sockets;
mod spawn;
mod swaps;
mod syslog_socket;
mod timers;

use self::children::*;
use self::console::*;
use self::mounts::*;
use self::shutdown::*;
use self::signals::*;
use self::spawn::*;
use crate::sys::mount::{cstring, do_mount, umount};
use crate::sys::proc::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::config::{boot_good_path, Config};
use crate::control::{Command, Request, Response};
use crate::engine::{ActiveState, Engine, JobKind, JobResult};
use crate::exec::{self, SpawnSpec};
use crate::log::Logs;
use crate::notify::{self, Sender, SenderRole};
use crate::pathwatch::{self, PathWatcher};
use crate::sysv::{self, SysvExtras};
use crate::unit::load::{self, LoadOptions, UnitSet};
use crate::unit::{
    ConditionKind, ExecCommand, KillMode, KindConfig, ListenKind, NotifyAccess, PathConfig,
    PathWatch, RestartPolicy, ServiceConfig, ServiceType, TimerConfig, Unit,
};

const MANAGER: &str = "b8g-init";
/// systemd-journald's units, whose work b8g-init does itself: started, they are only
/// marked active.
const JOURNAL_UNITS: &[&str] = &[
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket",
    "systemd-journal-flush.service",
];
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
    /// A timer's calendar elapses are those after this (its start, its last elapse, or
    /// its Persistent= stamp).
    timer_base: Option<jiff::Timestamp>,
    /// This arming's RandomizedDelaySec= share.
    timer_delay: Duration,
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
    /// The cgroup the unit's processes were put in (kept while it runs, whatever a
    /// reload makes of its Slice=).
    cgroup_dir: Option<PathBuf>,
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
    /// The `/dev/log` datagram socket.
    syslog: Option<OwnedFd>,
    /// `/dev/kmsg`, read into the `kernel` log on a real boot.
    kmsg: Option<OwnedFd>,
    /// Unbound; sends what is forwarded to a syslog daemon's socket.
    syslog_out: Option<std::os::unix::net::UnixDatagram>,
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
    /// The zone calendar timers follow (`/etc/localtime`).
    local_tz: jiff::tz::TimeZone,
    /// Where units were loaded from last: the unit directories and the generators'.
    search_path: Vec<PathBuf>,
    /// The system bus connection, once the bus daemon runs.
    bus: Option<crate::bus::Bus>,
    bus_tried: Option<Instant>,
    /// Units the bus daemon asked for whose start job has not ended.
    bus_activations: BTreeSet<String>,
    /// When failed activations were last logged (a few a minute).
    bus_failures_logged: VecDeque<Instant>,
    /// udevd's processed device events (netlink).
    udev: Option<OwnedFd>,
    /// The `.device` unit names udev announced as present, each with the devices (sysfs
    /// paths) that carry it: a name goes only when its last device does.
    plugged: BTreeMap<String, BTreeSet<String>>,
    /// Each announced device's unit names, as last announced.
    device_names: BTreeMap<String, Vec<String>>,
    pub finished: bool,
}

fn now() -> Instant {
    Instant::now()
}

fn is_pid1() -> bool {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() == 1 }
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
        let mut logs = Logs::new(cfg.unit_log_dir.clone(), start);
        logs.rate = cfg.log_rate;
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
            syslog: None,
            kmsg: None,
            syslog_out: None,
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
            local_tz: jiff::tz::TimeZone::UTC,
            search_path: Vec::new(),
            bus: None,
            bus_tried: None,
            bus_activations: BTreeSet::new(),
            bus_failures_logged: VecDeque::new(),
            udev: None,
            plugged: BTreeMap::new(),
            device_names: BTreeMap::new(),
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
        m.open_syslog();
        m.open_kmsg();
        m.open_udev();
        m.remount_root_from_fstab();
        m.reload_units();
        Ok(m)
    }

    /// (Re)loads all units; runtime state of units that still exist is kept.
    pub fn reload_units(&mut self) {
        self.load_local_zone();
        let (generated, extras, sysv_diags) = sysv::generate(&self.cfg.etc_dir);
        self.extras = extras;
        let unit_dirs = self.run_generators();
        self.search_path = unit_dirs.clone();
        let opts = LoadOptions {
            unit_dirs,
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
        // A device nothing referenced (systemd has a unit for every device udev tagged).
        if let Some(u) = load::device_unit(name) {
            self.set.units.insert(name.to_string(), u);
            self.engine.rebuild(&self.set);
            if self.plugged.contains_key(name) {
                self.set_state(name, ActiveState::Active, "plugged");
            }
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
}
