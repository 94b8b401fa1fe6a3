//! Units: the typed model of systemd-style unit files, how they are parsed
//! ([`ini`], [`parse`]), named ([`name`]), timed ([`time`]) and loaded from unit
//! directories with drop-ins, templates and `.wants/` directories ([`load`]).
//! Nothing here starts processes; the supervisor does that.

pub mod calendar;
pub mod condition_names;
pub mod ini;
pub mod load;
pub mod name;
pub mod name_set;
pub mod parse;
pub mod time;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

pub use name::UnitKind;
pub use name_set::NameSet;

/// A diagnostic found while loading units: an error makes a unit (or file) unusable,
/// a warning names something ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub location: String,
    pub error: bool,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = if self.error { "error" } else { "warning" };
        write!(f, "{}: {sev}: {}", self.location, self.message)
    }
}

/// Dependencies as written (and as added by `.wants/` directories, `[Install]` and
/// default dependencies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deps {
    pub requires: NameSet,
    pub wants: NameSet,
    pub binds_to: NameSet,
    pub part_of: NameSet,
    pub requisite: NameSet,
    pub conflicts: NameSet,
    pub after: NameSet,
    pub before: NameSet,
    pub on_failure: NameSet,
    /// `RequiresMountsFor=`: the mount units of these paths and their parents become
    /// Requires= and After= once every unit is loaded.
    pub requires_mounts_for: BTreeSet<PathBuf>,
}

/// `[Install]`: in b8g a unit present in a unit directory is enabled by its
/// `[Install]` section (generations are immutable, so there is no separate enable step).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Install {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub alias: Vec<String>,
    pub also: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    PathExists,
    PathExistsGlob,
    PathIsDirectory,
    FileNotEmpty,
    DirectoryNotEmpty,
    FileIsExecutable,
    KernelCommandLine,
    PathIsSymbolicLink,
    PathIsMountPoint,
    PathIsReadWrite,
    FirstBoot,
    NeedsUpdate,
    Virtualization,
    Capability,
    Security,
    ACPower,
}

/// One `Condition…=`/`Assert…=` check; `negate` for a leading `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub negate: bool,
    /// `|`: a triggering condition; at least one of a unit's triggering conditions must
    /// hold (and all its plain ones).
    pub trigger: bool,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    Simple,
    Exec,
    Forking,
    Oneshot,
    Notify,
    Idle,
    /// Ready when its `BusName=` is owned on the system bus.
    Dbus,
}

/// `NotifyAccess=`: which of a service's processes may send sd_notify messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAccess {
    None,
    Main,
    Exec,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    ControlGroup,
    Process,
    Mixed,
    None,
}

/// One `Exec…=` line: the words as written (variables are expanded at run time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub argv: Vec<String>,
    /// `-`: a failing exit status is ignored.
    pub ignore_failure: bool,
    /// `@`: the second word is argv[0].
    pub custom_argv0: bool,
    /// `+` or `!`: run with full privileges (no User=, no sandboxing).
    pub privileged: bool,
    /// Cleared by `:`: the words are used without `$VAR` expansion.
    pub expand: bool,
    pub location: String,
}

/// Where a standard stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdIo {
    Null,
    Tty,
    /// Captured into the unit's log (journal, kmsg, syslog and inherit map here).
    Log,
    /// Captured and also written to the console.
    LogAndConsole,
    File(PathBuf),
    Append(PathBuf),
    Truncate(PathBuf),
    /// For stderr only: same as stdout.
    Inherit,
    /// The connection of an Accept=yes socket (stdin and stdout).
    Socket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// The execution context shared by services (and socket/mount helpers).
#[derive(Debug, Clone, Default)]
pub struct ExecContext {
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_groups: Vec<String>,
    pub environment: Vec<(String, String)>,
    /// Files with a flag saying a missing file is fine (`-` prefix).
    pub environment_files: Vec<(PathBuf, bool)>,
    pub working_directory: Option<(String, bool)>,
    pub root_directory: Option<PathBuf>,
    pub umask: Option<u32>,
    pub nice: Option<i32>,
    pub oom_score_adjust: Option<i32>,
    pub limits: Vec<Rlimit>,
    pub runtime_directories: Vec<String>,
    pub runtime_directory_mode: Option<u32>,
    pub state_directories: Vec<String>,
    pub state_directory_mode: Option<u32>,
    pub logs_directories: Vec<String>,
    pub logs_directory_mode: Option<u32>,
    pub cache_directories: Vec<String>,
    pub cache_directory_mode: Option<u32>,
    pub stdin: Option<StdIo>,
    pub stdout: Option<StdIo>,
    pub stderr: Option<StdIo>,
    pub tty_path: Option<PathBuf>,
    pub syslog_identifier: Option<String>,
    /// `SyslogLevel=`: the severity of output lines without a `<N>` prefix (info).
    pub syslog_level: Option<u8>,
    /// `SyslogLevelPrefix=`: whether a line's `<N>` prefix sets its severity (yes).
    pub syslog_level_prefix: Option<bool>,
    /// `SyslogFacility=`: the facility forwarded lines carry (daemon).
    pub syslog_facility: Option<u8>,
    pub ignore_sigpipe: Option<bool>,
    pub no_new_privileges: bool,
    pub private_tmp: bool,
    /// Resource control (systemd.resource-control(5)) on the unit's cgroup.
    pub cgroup: crate::cgroup::CgroupConfig,
    /// The file-system sandbox (systemd.exec(5), SANDBOXING), set up in a mount
    /// namespace of the unit's own (see `crate::namespace`).
    pub sandbox: Sandbox,
    /// `DynamicUser=`: the unit runs as a user and group allocated for it (see
    /// `exec::dynamic_user`); `user` then names that user (the unit's name by default).
    pub dynamic_user: bool,
    /// `None`: keep all capabilities. Otherwise the capability numbers to keep.
    pub capability_bounding_set: Option<BTreeSet<u32>>,
}

/// `ProtectSystem=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtectSystem {
    #[default]
    No,
    /// /usr and the boot loader's directories read-only.
    Yes,
    /// And /etc.
    Full,
    /// Everything but /dev, /proc and /sys (and the unit's own directories).
    Strict,
}

/// `ProtectHome=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtectHome {
    #[default]
    No,
    /// /home, /root and /run/user empty and inaccessible.
    Yes,
    ReadOnly,
    /// Empty read-only tmpfs over them.
    Tmpfs,
}

/// The sandboxing directives that need only a mount namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    pub protect_system: ProtectSystem,
    pub protect_home: ProtectHome,
    pub private_devices: bool,
    pub protect_kernel_tunables: bool,
    pub protect_kernel_modules: bool,
    pub protect_control_groups: bool,
    /// Paths as written: a leading `-` means "ignore if missing".
    pub read_write_paths: Vec<String>,
    pub read_only_paths: Vec<String>,
    pub inaccessible_paths: Vec<String>,
    /// `SOURCE[:DEST[:OPTIONS]]`, `-` before SOURCE to ignore a missing one.
    pub bind_paths: Vec<String>,
    pub bind_read_only_paths: Vec<String>,
    /// `PATH[:OPTIONS]`.
    pub temporary_file_system: Vec<String>,
}

impl Sandbox {
    /// Whether anything here needs a mount namespace.
    pub fn is_set(&self) -> bool {
        *self != Sandbox::default()
    }
}

/// A `Timeout…Sec=` setting (systemd.service(5)): not written, so the manager's
/// default applies, or written, where `0` and `infinity` both mean no time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Default,
    Never,
    After(Duration),
}

impl Timeout {
    /// From a parsed time span: `None` (infinity) and zero disable the timeout.
    pub fn from_span(span: Option<Duration>) -> Timeout {
        match span {
            Some(d) if !d.is_zero() => Timeout::After(d),
            _ => Timeout::Never,
        }
    }

    /// The time limit in effect, given the manager's default (where zero also means
    /// none, as `DefaultTimeoutStartSec=0` does in systemd); `None` for no limit.
    pub fn resolve(self, default: Duration) -> Option<Duration> {
        match self {
            Timeout::Default => Some(default).filter(|d| !d.is_zero()),
            Timeout::Never => None,
            Timeout::After(d) => Some(d),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub service_type: ServiceType,
    pub exec_start: Vec<ExecCommand>,
    /// `ExecCondition=`: run before ExecStartPre=; exit 1–254 skips the unit.
    pub exec_condition: Vec<ExecCommand>,
    pub exec_start_pre: Vec<ExecCommand>,
    pub exec_start_post: Vec<ExecCommand>,
    pub exec_stop: Vec<ExecCommand>,
    pub exec_stop_post: Vec<ExecCommand>,
    pub exec_reload: Vec<ExecCommand>,
    pub remain_after_exit: bool,
    pub pid_file: Option<PathBuf>,
    pub restart: RestartPolicy,
    pub restart_sec: Duration,
    pub restart_max_delay: Option<Duration>,
    pub timeout_start: Timeout,
    pub timeout_stop: Timeout,
    pub success_exit_status: Vec<i32>,
    pub success_signals: Vec<i32>,
    pub kill_mode: KillMode,
    pub kill_signal: i32,
    pub send_sigkill: bool,
    /// SendSIGHUP=: also send SIGHUP right after KillSignal (shells and gettys
    /// ignore SIGTERM but end on a hangup).
    pub send_sighup: bool,
    pub watchdog: Option<Duration>,
    /// s6-style readiness: the service writes a newline to this fd when ready.
    pub notification_fd: Option<i32>,
    /// `NotifyAccess=` as written; see [`ServiceConfig::notify_access`] for the default.
    pub notify_access: Option<NotifyAccess>,
    pub sockets: Vec<String>,
    pub exec: ExecContext,
    /// `BusName=`: the D-Bus name a Type=dbus service takes when it is ready.
    pub bus_name: Option<String>,
    /// Whether `Type=` was given: without it, `BusName=` makes a service Type=dbus.
    pub type_given: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            service_type: ServiceType::Simple,
            exec_start: vec![],
            exec_condition: vec![],
            exec_start_pre: vec![],
            exec_start_post: vec![],
            exec_stop: vec![],
            exec_stop_post: vec![],
            exec_reload: vec![],
            remain_after_exit: false,
            pid_file: None,
            restart: RestartPolicy::No,
            restart_sec: Duration::from_millis(100),
            restart_max_delay: None,
            timeout_start: Timeout::Default,
            timeout_stop: Timeout::Default,
            success_exit_status: vec![],
            success_signals: vec![],
            kill_mode: KillMode::ControlGroup,
            kill_signal: libc::SIGTERM,
            send_sigkill: true,
            send_sighup: false,
            watchdog: None,
            notification_fd: None,
            notify_access: None,
            sockets: vec![],
            exec: ExecContext::default(),
            bus_name: None,
            type_given: false,
        }
    }
}

impl ServiceConfig {
    /// The start (and reload) time limit in effect: `TimeoutStartSec=` as written, else
    /// the manager's default, except for Type=oneshot, whose start has no time limit
    /// by default (systemd.service(5)).
    pub fn start_timeout(&self, default: Duration) -> Option<Duration> {
        match (self.timeout_start, self.service_type) {
            (Timeout::Default, ServiceType::Oneshot) => None,
            (t, _) => t.resolve(default),
        }
    }

    /// The effective `NotifyAccess=`: as written, else `main` for Type=notify or a
    /// service with WatchdogSec=, else `none` (systemd.service(5)).
    pub fn notify_access(&self) -> NotifyAccess {
        self.notify_access.unwrap_or(
            if self.service_type == ServiceType::Notify || self.watchdog.is_some() {
                NotifyAccess::Main
            } else {
                NotifyAccess::None
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenKind {
    Stream,
    Datagram,
    SeqPacket,
    /// `ListenFIFO=`: a named pipe, opened read-write so it never sees end-of-file.
    Fifo,
    /// `ListenNetlink=`: a netlink family by name and a multicast group mask
    /// (`kobject-uevent 1`).
    Netlink,
    /// `ListenSpecial=`: a character device or file opened read-write (`/dev/rfkill`).
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub kind: ListenKind,
    /// A path (`/run/foo.sock`), `@abstract`, a port, `addr:port` or `[v6]:port`.
    pub address: String,
}

#[derive(Debug, Clone, Default)]
pub struct SocketConfig {
    pub listen: Vec<Listen>,
    pub accept: bool,
    pub service: Option<String>,
    pub socket_mode: Option<u32>,
    pub directory_mode: Option<u32>,
    pub backlog: Option<i32>,
    pub fd_name: Option<String>,
    pub reuse_port: bool,
    pub max_connections: Option<usize>,
    pub remove_on_stop: bool,
    /// `PassCredentials=`: SO_PASSCRED (udevd ignores uevents without credentials).
    pub pass_credentials: bool,
    /// `ReceiveBuffer=`/`SendBuffer=` in bytes (forced past the sysctl limit, as
    /// systemd sets them).
    pub receive_buffer: Option<u64>,
    pub send_buffer: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct MountConfig {
    pub what: String,
    pub where_: PathBuf,
    pub fs_type: Option<String>,
    pub options: Option<String>,
    pub directory_mode: Option<u32>,
    pub timeout: Option<Duration>,
    pub lazy_unmount: bool,
}

/// `[Swap]` (systemd.swap(5)).
#[derive(Debug, Clone, Default)]
pub struct SwapConfig {
    /// The device node or file.
    pub what: String,
    /// `Priority=`; `pri=` in Options= when unset.
    pub priority: Option<i32>,
    /// swapon(8) options: `pri=`, `discard[=once|pages]`; `nofail` and others ignored.
    pub options: Option<String>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct TimerConfig {
    pub on_boot: Vec<Duration>,
    pub on_active: Vec<Duration>,
    pub on_unit_active: Vec<Duration>,
    pub on_unit_inactive: Vec<Duration>,
    pub on_calendar: Vec<calendar::Calendar>,
    pub unit: Option<String>,
    pub remain_after_elapse: bool,
    /// `Persistent=`: a calendar elapse missed while the timer was inactive (the system
    /// off) fires when it starts again.
    pub persistent: bool,
    /// `RandomizedDelaySec=`: each elapse is delayed by a random amount up to this.
    pub randomized_delay: Duration,
    /// `FixedRandomDelay=`: the delay is the same every time for this timer.
    pub fixed_random_delay: bool,
}

/// What a `.path` unit watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathWatch {
    /// The path exists (level: triggers again while it still exists).
    Exists,
    /// A glob matches at least one path (level).
    ExistsGlob,
    /// A file written to was closed, or the path was created, deleted, moved or its
    /// attributes changed (edge).
    Changed,
    /// As `Changed`, and also on every write (edge).
    Modified,
    /// The directory holds at least one entry (level).
    DirectoryNotEmpty,
}

#[derive(Debug, Clone)]
pub struct PathConfig {
    pub watches: Vec<(PathWatch, PathBuf)>,
    pub unit: Option<String>,
    pub make_directory: bool,
    pub directory_mode: u32,
    pub trigger_limit_interval: Duration,
    pub trigger_limit_burst: u32,
}

impl Default for PathConfig {
    fn default() -> Self {
        // systemd's defaults for path units: at most 200 triggers in 2 s.
        PathConfig {
            watches: Vec::new(),
            unit: None,
            make_directory: false,
            directory_mode: 0o755,
            trigger_limit_interval: Duration::from_secs(2),
            trigger_limit_burst: 200,
        }
    }
}

/// Per-kind configuration.
#[derive(Debug, Clone)]
pub enum KindConfig {
    Service(Box<ServiceConfig>),
    Target,
    Socket(Box<SocketConfig>),
    Mount(Box<MountConfig>),
    Timer(Box<TimerConfig>),
    Path(Box<PathConfig>),
    /// A `.slice`: a level of the cgroup tree with resource settings of its own.
    Slice(Box<crate::cgroup::CgroupConfig>),
    /// A `.swap`: a device or file swapped on.
    Swap(Box<SwapConfig>),
}

/// A fully loaded unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub kind: UnitKind,
    pub description: Option<String>,
    pub documentation: Vec<String>,
    pub deps: Deps,
    pub default_dependencies: bool,
    pub ignore_on_isolate: bool,
    pub conditions: Vec<Condition>,
    pub asserts: Vec<Condition>,
    pub start_limit_interval: Duration,
    pub start_limit_burst: u32,
    pub install: Install,
    /// Fragment and drop-ins, in order; empty for built-in and generated units.
    pub sources: Vec<PathBuf>,
    pub config: KindConfig,
    /// Set when loading failed: the unit exists (so dependencies resolve) but cannot start.
    pub load_error: Option<String>,
}

impl Unit {
    /// An empty unit of the kind its name says (used for built-in targets and for
    /// names that resolve to no file).
    pub fn empty(name: &str) -> Unit {
        let kind = UnitKind::from_name(name).unwrap_or(UnitKind::Target);
        let config = match kind {
            UnitKind::Service => KindConfig::Service(Box::default()),
            UnitKind::Target => KindConfig::Target,
            UnitKind::Socket => KindConfig::Socket(Box::default()),
            UnitKind::Mount => KindConfig::Mount(Box::default()),
            UnitKind::Timer => KindConfig::Timer(Box::default()),
            UnitKind::Path => KindConfig::Path(Box::default()),
            UnitKind::Slice => KindConfig::Slice(Box::default()),
            UnitKind::Swap => KindConfig::Swap(Box::default()),
        };
        Unit {
            name: name.to_string(),
            kind,
            description: None,
            documentation: vec![],
            deps: Deps::default(),
            default_dependencies: true,
            ignore_on_isolate: false,
            conditions: vec![],
            asserts: vec![],
            start_limit_interval: Duration::from_secs(10),
            start_limit_burst: 5,
            install: Install::default(),
            sources: vec![],
            config,
            load_error: None,
        }
    }

    pub fn service(&self) -> Option<&ServiceConfig> {
        match &self.config {
            KindConfig::Service(s) => Some(s),
            _ => None,
        }
    }
}
