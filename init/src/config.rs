//! Where b8g-init reads units and writes state. Every root is configurable so tests
//! can run it as PID 1 in a user namespace over a temporary directory (`--root`).

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Unit directories, highest priority first.
    pub unit_dirs: Vec<PathBuf>,
    /// Configuration: inittab, init.d, rcN.d, hostname, passwd, group.
    pub etc_dir: PathBuf,
    /// The runtime root (`%t`, RuntimeDirectory=); b8g's own files go in `<run>/b8g`.
    pub run_dir: PathBuf,
    /// `%S`, StateDirectory=; b8g keeps `boot-good` in `<state>/b8g`.
    pub state_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// LogsDirectory= root (`%L`).
    pub logs_dir: PathBuf,
    /// Per-unit log files: `<unit_log_dir>/UNIT.log`.
    pub unit_log_dir: PathBuf,
    pub control_socket: PathBuf,
    pub default_target: String,
    /// Real boot: mount API file systems, set the hostname, unmount and reboot(2) at the end.
    pub boot: bool,
    /// The generation (`b8g.system=`), whose `activate` runs before units start.
    pub system: Option<PathBuf>,
    /// Every unit's `[Install]` section enables it (a generation is immutable, so there
    /// is no enable step). Off on a plain root without `b8g.system=` (a Debian rootfs):
    /// there, as under systemd, only `.wants/`/`.requires/` links enable units.
    pub install_enables: bool,
    pub default_timeout_start: Duration,
    pub default_timeout_stop: Duration,
    /// Time between SIGTERM and SIGKILL to all processes at shutdown.
    pub kill_grace: Duration,
    /// Where the status lines and the "system ready" marker go; stderr when `None`.
    pub console: Option<PathBuf>,
    pub emergency_shell: PathBuf,
    pub kernel_cmdline: String,
    pub log_rate: crate::log::RateLimit,
}

/// The file b8g-init writes once the default target is reached; stage 1's boot
/// counting reads it (one line `system=<path>`, one line `ready_ms=<n>`).
pub fn boot_good_path(state_dir: &Path) -> PathBuf {
    state_dir.join("b8g").join("boot-good")
}

impl Config {
    /// Defaults for a real boot, from the kernel command line.
    pub fn system_defaults(cmdline: &str) -> Config {
        let system = cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("b8g.system="))
            .map(PathBuf::from);
        let (unit_dirs, etc_dir) = match &system {
            Some(s) => (
                vec![s.join("units"), PathBuf::from("/etc/systemd/system")],
                s.join("etc"),
            ),
            None => (
                [
                    "/etc/systemd/system",
                    "/run/systemd/system",
                    "/usr/lib/systemd/system",
                    "/lib/systemd/system",
                ]
                .iter()
                .map(PathBuf::from)
                .collect(),
                PathBuf::from("/etc"),
            ),
        };
        let default_target = cmdline
            .split_whitespace()
            .find_map(|w| {
                w.strip_prefix("systemd.unit=")
                    .or_else(|| w.strip_prefix("b8g.unit="))
            })
            .unwrap_or("default.target")
            .to_string();
        Config {
            install_enables: system.is_some(),
            unit_dirs,
            etc_dir,
            run_dir: "/run".into(),
            state_dir: "/var/lib".into(),
            cache_dir: "/var/cache".into(),
            logs_dir: "/var/log".into(),
            unit_log_dir: "/var/log/b8g".into(),
            control_socket: b8g_layout::generation::CONTROL_SOCKET.into(),
            default_target,
            boot: true,
            system,
            default_timeout_start: Duration::from_secs(90),
            // systemd's DefaultTimeoutStartSec= and DefaultTimeoutStopSec=; systemd
            // also gives systemd-shutdown the stop timeout as its grace between
            // SIGTERM and SIGKILL to the processes left at the end.
            default_timeout_stop: Duration::from_secs(90),
            kill_grace: Duration::from_secs(90),
            console: Some("/dev/console".into()),
            emergency_shell: "/bin/sh".into(),
            kernel_cmdline: cmdline.to_string(),
            log_rate: crate::log::RateLimit::default(),
        }
    }

    /// Everything under `root`, no boot actions: what tests use.
    pub fn rooted(root: &Path, cmdline: &str) -> Config {
        let mut c = Config::system_defaults(cmdline);
        c.unit_dirs = vec![root.join("etc/systemd/system"), root.join("units")];
        c.etc_dir = root.join("etc");
        c.run_dir = root.join("run");
        c.state_dir = root.join("var/lib");
        c.cache_dir = root.join("var/cache");
        c.logs_dir = root.join("var/log");
        c.unit_log_dir = root.join("var/log/b8g");
        c.control_socket = root.join("run/b8g/control");
        c.boot = false;
        c.console = None;
        c.install_enables = true;
        c
    }

    pub fn b8g_run(&self) -> PathBuf {
        self.run_dir.join("b8g")
    }
    pub fn notify_socket(&self) -> PathBuf {
        self.b8g_run().join("notify")
    }
    /// Where generators are looked for, highest priority first (systemd.generator(7)):
    /// below the root of `etc_dir` on a plain root, below `/` for a generation.
    pub fn generator_dirs(&self) -> Vec<PathBuf> {
        let prefix = match (&self.system, self.etc_dir.parent()) {
            (None, Some(p)) => p.to_path_buf(),
            _ => PathBuf::from("/"),
        };
        [
            "run/systemd/system-generators",
            "etc/systemd/system-generators",
            "usr/local/lib/systemd/system-generators",
            "usr/lib/systemd/system-generators",
            "lib/systemd/system-generators",
        ]
        .iter()
        .map(|d| prefix.join(d))
        .collect()
    }
    /// Where syslog clients write (journald's socket; `/dev/log` links to it on a boot).
    pub fn syslog_socket(&self) -> PathBuf {
        self.run_dir.join("systemd/journal/dev-log")
    }
    /// Where a syslog daemon listens for what the journal forwards (rsyslog's
    /// `syslog.socket`).
    pub fn syslog_forward_socket(&self) -> PathBuf {
        self.run_dir.join("systemd/journal/syslog")
    }
    pub fn specifier_dirs(&self) -> crate::unit::name::SpecifierDirs {
        crate::unit::name::SpecifierDirs {
            runtime: self.run_dir.display().to_string(),
            state: self.state_dir.display().to_string(),
            cache: self.cache_dir.display().to_string(),
            logs: self.logs_dir.display().to_string(),
            hostname: std::fs::read_to_string(self.etc_dir.join("hostname"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            etc_dir: self.etc_dir.clone(),
        }
    }

    /// Applies `--option value` arguments; returns an error naming a bad one.
    pub fn apply_args(&mut self, args: &[String]) -> Result<(), String> {
        let mut unit_dirs: Vec<PathBuf> = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))
            };
            let secs = |v: String| -> Result<Duration, String> {
                crate::unit::time::parse_timespan(&v)?
                    .ok_or_else(|| format!("{a}: infinity not allowed"))
            };
            match a.as_str() {
                "--root" => {
                    let root = PathBuf::from(val()?);
                    let keep = (self.kernel_cmdline.clone(), self.default_target.clone());
                    *self = Config::rooted(&root, &keep.0);
                    self.default_target = keep.1;
                }
                "--unit-dir" => unit_dirs.push(val()?.into()),
                "--etc-dir" => self.etc_dir = val()?.into(),
                "--run-dir" => self.run_dir = val()?.into(),
                "--state-dir" => self.state_dir = val()?.into(),
                "--log-dir" => self.unit_log_dir = val()?.into(),
                "--control-socket" => self.control_socket = val()?.into(),
                "--default-target" => self.default_target = val()?,
                "--console" => self.console = Some(val()?.into()),
                "--timeout-start" => self.default_timeout_start = secs(val()?)?,
                "--timeout-stop" => self.default_timeout_stop = secs(val()?)?,
                "--kill-grace" => self.kill_grace = secs(val()?)?,
                // journald.conf's RateLimitIntervalSec= and RateLimitBurst=.
                "--log-rate-limit-interval" => self.log_rate.interval = secs(val()?)?,
                "--log-rate-limit-burst" => {
                    let v = val()?;
                    self.log_rate.burst = v
                        .parse()
                        .map_err(|_| format!("{a}: {v:?} is not a number"))?;
                }
                "--system" => {
                    let s = PathBuf::from(val()?);
                    self.unit_dirs = vec![s.join("units")];
                    self.etc_dir = s.join("etc");
                    self.system = Some(s);
                    self.install_enables = true;
                }
                // As on a plain Debian root: only `.wants/`/`.requires/` links enable
                // units (after --root, which turns [Install] enabling on).
                "--links-only" => self.install_enables = false,
                "--boot" => self.boot = true,
                "--no-boot" => self.boot = false,
                "--emergency-shell" => self.emergency_shell = val()?.into(),
                // The kernel passes its unparsed arguments to init; ignore them.
                s if !s.starts_with("--") => {}
                other => return Err(format!("unknown option {other}")),
            }
        }
        if !unit_dirs.is_empty() {
            self.unit_dirs = unit_dirs;
        }
        Ok(())
    }
}
