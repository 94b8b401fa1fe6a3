//! From raw assignments to a typed [`Unit`]: one match arm per supported directive,
//! specifier expansion, and diagnostics with `file:line` for bad values, unknown
//! directives and sandboxing directives that b8g-init parses but does not enforce.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::calendar::Calendar;
use super::ini::{Entry, RawUnit};
use super::name::{expand_specifiers, SpecifierDirs};
use super::time::parse_timespan;
use super::*;

mod command_line;
mod exec;
mod kinds;
mod values;

use self::command_line::*;
pub use self::command_line::{split_variable_value, split_words, split_words_noting};
use self::exec::*;
use self::kinds::*;
pub use self::values::netlink_address;
use self::values::*;
pub use self::values::{parse_env_assignments, parse_signal, signal_number, CAPS};

/// Sandboxing and resource-control directives that are accepted, warned about once
/// per load, and not enforced.
const IGNORED: &[&str] = &[
    // Old names systemd still accepts (for ReadWritePaths= and the like, and for
    // `+` on Exec lines); Debian's redis, nginx, dnsmasq, chrony units use them.
    "PermissionsStartOnly",
    "RuntimeDirectoryPreserve",
    // Other directives of systemd's that Debian 12's units use (verify-debian-units).
    "LoadCredential",
    "RuntimeMaxSec",
    "MountFlags",
    "MountAPIVFS",
    "IOAccounting",
    "StartupIOWeight",
    "CPUSchedulingResetOnFork",
    "RestartKillSignal",
    "ManagedOOMMemoryPressure",
    "ManagedOOMMemoryPressureLimit",
    "SELinuxContext",
    "AppArmorProfile",
    "FreeBind",
    "PassPacketInfo",
    // In [Socket] (services handle their own): run around binding the sockets.
    "ExecStartPre",
    "ExecStartPost",
    "ExecStopPre",
    "ExecStopPost",
    "PrivateNetwork",
    "PrivateUsers",
    "PrivateIPC",
    "PrivateMounts",
    "ProtectKernelLogs",
    "ProtectHostname",
    "ProtectClock",
    "ProtectProc",
    "ProcSubset",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "SystemCallErrorNumber",
    "MemoryDenyWriteExecute",
    "LockPersonality",
    "ExecPaths",
    "NoExecPaths",
    "AmbientCapabilities",
    "DevicePolicy",
    "DeviceAllow",
    "IPAddressDeny",
    "IPAddressAllow",
    "RemoveIPC",
    "KeyringMode",
    "CPUShares",
    "SecureBits",
    "ProtectSystemd",
    "UtmpIdentifier",
    "UtmpMode",
    "LogRateLimitIntervalSec",
    "LogRateLimitBurst",
    "CPUSchedulingPolicy",
    "CPUSchedulingPriority",
    "IOSchedulingClass",
    "IOSchedulingPriority",
    "CPUAffinity",
    "PAMName",
    "TTYReset",
    "TTYVHangup",
    "TTYVTDisallocate",
    "StandardOutputTimestamps",
    "LogLevelMax",
    "LogExtraFields",
    "GuessMainPID",
    "FileDescriptorStoreMax",
    "NonBlocking",
    "RestartPreventExitStatus",
    "RestartForceExitStatus",
    "TimeoutAbortSec",
    "FinalKillSignal",
    "WatchdogSignal",
    "OOMPolicy",
    "WakeSystem",
    "ConfigurationDirectory",
    "ConfigurationDirectoryMode",
    "PassEnvironment",
    "UnsetEnvironment",
    "JobTimeoutSec",
    "JobTimeoutAction",
    "StopWhenUnneeded",
    "RefuseManualStart",
    "RefuseManualStop",
    "AllowIsolate",
    "CollectMode",
    "SuccessAction",
    "FailureAction",
    "StartLimitAction",
    "RebootArgument",
    "PassSecurity",
    "KeepAlive",
    "NoDelay",
    "SocketUser",
    "SocketGroup",
    "Symlinks",
    "Timestamping",
    "Transparent",
    "Broadcast",
    "Priority",
    "SloppyOptions",
    "ReadWriteOnly",
    "ForceUnmount",
    "TriggerLimitIntervalSec",
    "TriggerLimitBurst",
    "BindIPv6Only",
    "Documentation.",
    "OnSuccess",
    "Upholds",
    "PropagatesReloadTo",
    "ReloadPropagatedFrom",
    "JoinsNamespaceOf",
    "OnFailureJobMode",
    "ConditionArchitecture",
    "ConditionHost",
    "ConditionUser",
    "ConditionGroup",
    "ConditionControlGroupController",
    "ConditionMemory",
    "ConditionCPUs",
    "ConditionEnvironment",
    "ConditionFileIsExecutable.",
];

/// Collects diagnostics; sandbox warnings are shared across units so each is said once.
pub struct Diags<'a> {
    pub list: &'a mut Vec<Diagnostic>,
    pub warned: &'a mut BTreeSet<String>,
}

impl Diags<'_> {
    fn error(&mut self, location: String, message: String) {
        self.list.push(Diagnostic {
            location,
            error: true,
            message,
        });
    }
    fn warn(&mut self, location: String, message: String) {
        self.list.push(Diagnostic {
            location,
            error: false,
            message,
        });
    }
}

/// Builds a typed unit from its raw assignments. Bad values are errors (the unit gets a
/// `load_error` and will not start); unknown or unenforced directives are warnings.
pub fn unit_from_raw(name: &str, raw: &RawUnit, dirs: &SpecifierDirs, diags: &mut Diags) -> Unit {
    let mut unit = Unit::empty(name);
    unit.sources = raw.sources.clone();
    let first_error = diags.list.len();
    let fragment = raw.sources.first().map(PathBuf::as_path);
    for e in &raw.entries {
        let loc = raw.location(e);
        let value = if expands_specifiers(&e.section, &e.key) {
            match expand_specifiers(&e.value, name, dirs, fragment) {
                Ok(v) => v,
                // As systemd: a command line that cannot be resolved makes the unit
                // bad (unless `-` says its failure does not matter); any other
                // setting is ignored with a warning.
                Err(m) if e.key.starts_with("Exec") && !e.value.trim_start().starts_with('-') => {
                    diags.error(loc, format!("{}=: {m}", e.key));
                    continue;
                }
                Err(m) => {
                    diags.warn(loc, format!("{}=: {m}; setting ignored", e.key));
                    continue;
                }
            }
        } else {
            e.value.clone()
        };
        if let Err(m) = apply(&mut unit, e, &value, &loc, diags) {
            diags.error(loc, format!("{}=: {m}", e.key));
        }
    }
    let loc0 = raw
        .sources
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.to_string());
    // systemd.exec(5): DynamicUser= names the user after the unit unless User= does,
    // and implies NoNewPrivileges=, ProtectSystem=strict, ProtectHome=read-only and
    // PrivateTmp= (RemoveIPC= is not done).
    if let KindConfig::Service(s) = &mut unit.config {
        let x = &mut s.exec;
        if x.dynamic_user {
            // As systemd.exec(5) says DynamicUser= implies: the service can write only
            // its own directories and a private /tmp.
            if x.sandbox.protect_system == ProtectSystem::No {
                x.sandbox.protect_system = ProtectSystem::Strict;
            }
            if x.sandbox.protect_home == ProtectHome::No {
                x.sandbox.protect_home = ProtectHome::ReadOnly;
            }
            x.private_tmp = true;
            if x.user.is_none() {
                let base = name.rsplit_once('.').map_or(name, |(b, _)| b);
                x.user = Some(base.replace('@', "-"));
            }
            x.no_new_privileges = true;
        }
    }
    if let KindConfig::Service(s) = &mut unit.config {
        // systemd.service(5): Type=dbus is the default when BusName= is given.
        if !s.type_given && s.bus_name.is_some() && !s.exec_start.is_empty() {
            s.service_type = ServiceType::Dbus;
        }
        if s.service_type == ServiceType::Dbus && s.bus_name.is_none() {
            diags.error(
                loc0.clone(),
                "service is of Type=dbus but has no BusName=".into(),
            );
        }
    }
    if let KindConfig::Service(s) = &unit.config {
        if s.exec_start.is_empty()
            && (s.service_type != ServiceType::Oneshot || s.exec_stop.is_empty())
        {
            diags.error(loc0.clone(), "service has no ExecStart= setting".into());
        } else if s.exec_start.len() > 1 && s.service_type != ServiceType::Oneshot {
            diags.error(
                loc0.clone(),
                "more than one ExecStart= is only allowed for Type=oneshot".into(),
            );
        }
    }
    if let KindConfig::Socket(s) = &unit.config {
        if s.listen.is_empty() {
            diags.error(loc0.clone(), "socket has no Listen…= setting".into());
        }
    }
    if let KindConfig::Swap(s) = &unit.config {
        if s.what.is_empty() {
            diags.error(loc0.clone(), "swap has no What= setting".into());
        } else if !s.what.starts_with('/') {
            diags.error(
                loc0.clone(),
                format!("What={} is not an absolute path", s.what),
            );
        } else if name::swap_unit_name(&s.what) != name && !name.contains('@') {
            diags.error(
                loc0.clone(),
                format!("What={} does not match the unit name {name}", s.what),
            );
        }
    }
    if let KindConfig::Mount(m) = &unit.config {
        if m.where_.as_os_str().is_empty() {
            diags.error(loc0.clone(), "mount has no Where= setting".into());
        } else if name::mount_unit_name(&m.where_) != name && !name.contains('@') {
            diags.error(
                loc0.clone(),
                format!(
                    "Where={} does not match the unit name {name}",
                    m.where_.display()
                ),
            );
        }
    }
    if let Some(d) = diags.list[first_error..].iter().find(|d| d.error) {
        unit.load_error = Some(d.to_string());
    }
    unit
}

/// Whether systemd expands `%` specifiers in this setting: names of units, paths,
/// command lines, environment, users, descriptions, conditions and `[Install]` (the
/// settings its `*_printf` parsers read). Elsewhere `%` means itself: `CPUQuota=50%`,
/// `TasksMax=99%`, `MemoryMax=80%`.
fn expands_specifiers(section: &str, key: &str) -> bool {
    match section {
        "Unit" => {
            key.starts_with("Condition")
                || key.starts_with("Assert")
                || matches!(
                    key,
                    "Description"
                        | "Documentation"
                        | "Requires"
                        | "Requisite"
                        | "Wants"
                        | "BindsTo"
                        | "PartOf"
                        | "Upholds"
                        | "Conflicts"
                        | "Before"
                        | "After"
                        | "OnFailure"
                        | "OnSuccess"
                        | "PropagatesReloadTo"
                        | "ReloadPropagatedFrom"
                        | "JoinsNamespaceOf"
                        | "RequiresMountsFor"
                        | "SourcePath"
                )
        }
        "Install" => matches!(
            key,
            "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also" | "DefaultInstance"
        ),
        "Mount" if matches!(key, "What" | "Where" | "Type" | "Options") => true,
        "Swap" if matches!(key, "What" | "Options") => true,
        "Timer" if matches!(key, "Unit" | "OnCalendar") => true,
        "Path" if key == "Unit" || key.starts_with("Path") || key == "DirectoryNotEmpty" => true,
        "Socket" if key.starts_with("Listen") => true,
        _ => {
            key.starts_with("Exec")
                || matches!(
                    key,
                    "Environment"
                        | "EnvironmentFile"
                        | "PassEnvironment"
                        | "UnsetEnvironment"
                        | "WorkingDirectory"
                        | "RootDirectory"
                        | "RootImage"
                        | "User"
                        | "Group"
                        | "SupplementaryGroups"
                        | "PIDFile"
                        | "BusName"
                        | "RuntimeDirectory"
                        | "StateDirectory"
                        | "CacheDirectory"
                        | "LogsDirectory"
                        | "ConfigurationDirectory"
                        | "StandardInput"
                        | "StandardOutput"
                        | "StandardError"
                        | "StandardInputText"
                        | "TTYPath"
                        | "SyslogIdentifier"
                        | "ReadWritePaths"
                        | "ReadOnlyPaths"
                        | "InaccessiblePaths"
                        | "ExecPaths"
                        | "NoExecPaths"
                        | "BindPaths"
                        | "BindReadOnlyPaths"
                        | "TemporaryFileSystem"
                        | "Sockets"
                        | "Slice"
                        | "Service"
                        | "Symlinks"
                        | "FileDescriptorName"
                        | "SocketUser"
                        | "SocketGroup"
                )
        }
    }
}

fn list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split_whitespace().map(str::to_string)
}

fn set_list(target: &mut crate::unit::NameSet, v: &str) {
    if v.is_empty() {
        target.clear();
    } else {
        target.extend(list(v));
    }
}

fn vec_list(target: &mut Vec<String>, v: &str) {
    if v.is_empty() {
        target.clear();
    } else {
        target.extend(list(v));
    }
}

pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "y" | "t" => Ok(true),
        "0" | "no" | "false" | "off" | "n" | "f" => Ok(false),
        _ => Err(format!("invalid boolean {v:?}")),
    }
}

fn parse_mode(v: &str) -> Result<u32, String> {
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid mode {v:?}"))
}

fn span(v: &str) -> Result<Option<Duration>, String> {
    parse_timespan(v)
}

fn finite(v: &str) -> Result<Duration, String> {
    span(v)?.ok_or_else(|| "infinity is not allowed here".to_string())
}

fn apply(unit: &mut Unit, e: &Entry, v: &str, loc: &str, diags: &mut Diags) -> Result<(), String> {
    let key = e.key.as_str();
    match e.section.as_str() {
        "Unit" => apply_unit(unit, key, v, loc, diags),
        "Install" => {
            let i = &mut unit.install;
            match key {
                "WantedBy" => vec_list(&mut i.wanted_by, v),
                "RequiredBy" => vec_list(&mut i.required_by, v),
                "Alias" => vec_list(&mut i.alias, v),
                "Also" => vec_list(&mut i.also, v),
                "DefaultInstance" => {}
                _ => unknown(key, loc, diags),
            }
            Ok(())
        }
        "Service" if unit.kind == UnitKind::Service => apply_service(unit, key, v, loc, diags),
        "Socket" if unit.kind == UnitKind::Socket => apply_socket(unit, key, v, loc, diags),
        "Mount" if unit.kind == UnitKind::Mount => apply_mount(unit, key, v, loc, diags),
        "Swap" if unit.kind == UnitKind::Swap => apply_swap(unit, key, v, loc, diags),
        "Timer" if unit.kind == UnitKind::Timer => apply_timer(unit, key, v, loc, diags),
        "Path" if unit.kind == UnitKind::Path => apply_path(unit, key, v, loc, diags),
        "Slice" if unit.kind == UnitKind::Slice => {
            if let KindConfig::Slice(cg) = &mut unit.config {
                // A slice's parent is given by its name, not by Slice=.
                if key == "Slice" || !apply_cgroup(cg, key, v)? {
                    unknown(key, loc, diags);
                }
            }
            Ok(())
        }
        s if s.starts_with("X-") => Ok(()),
        s => {
            diags.warn(
                loc.to_string(),
                format!(
                    "unknown section [{s}] for a {} unit, ignored",
                    unit.kind.suffix()
                ),
            );
            Ok(())
        }
    }
}

/// Whether a diagnostic is about a name b8g-init does not know (the messages
/// [`unknown`] and the unknown-section warning make); `verify --strict` makes these errors.
pub fn names_something_unknown(message: &str) -> bool {
    message.starts_with("unknown directive ") || message.starts_with("unknown section [")
}

fn unknown(key: &str, loc: &str, diags: &mut Diags) {
    if key.starts_with("X-") {
        return;
    }
    if IGNORED.contains(&key) {
        ignored(key, loc, diags);
    } else {
        diags.warn(
            loc.to_string(),
            format!("unknown directive {key}=, ignored"),
        );
    }
}

fn ignored(key: &str, loc: &str, diags: &mut Diags) {
    if diags.warned.insert(key.to_string()) {
        diags.warn(
            loc.to_string(),
            format!("{key}= is parsed but not enforced by b8g-init (warned once)"),
        );
    }
}

fn apply_unit(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let d = &mut unit.deps;
    match key {
        "Description" => unit.description = Some(v.to_string()),
        "Documentation" => vec_list(&mut unit.documentation, v),
        "Requires" => set_list(&mut d.requires, v),
        "Wants" => set_list(&mut d.wants, v),
        "BindsTo" => set_list(&mut d.binds_to, v),
        "PartOf" => set_list(&mut d.part_of, v),
        "Requisite" => set_list(&mut d.requisite, v),
        "Conflicts" => set_list(&mut d.conflicts, v),
        "After" => set_list(&mut d.after, v),
        "Before" => set_list(&mut d.before, v),
        "OnFailure" => set_list(&mut d.on_failure, v),
        "RequiresMountsFor" => {
            if v.trim().is_empty() {
                d.requires_mounts_for.clear();
            }
            for p in v.split_whitespace() {
                d.requires_mounts_for.insert(abs(p)?);
            }
        }
        // Where a generator's unit came from: shown by systemctl status, nothing to do.
        "SourcePath" => {}
        "DefaultDependencies" => unit.default_dependencies = parse_bool(v)?,
        "IgnoreOnIsolate" => unit.ignore_on_isolate = parse_bool(v)?,
        "StartLimitIntervalSec" | "StartLimitInterval" => {
            unit.start_limit_interval = span(v)?.unwrap_or(Duration::ZERO)
        }
        "StartLimitBurst" => {
            unit.start_limit_burst = v.parse().map_err(|_| format!("invalid number {v:?}"))?
        }
        _ => {
            let (is_assert, rest) = if let Some(r) = key.strip_prefix("Condition") {
                (false, r)
            } else if let Some(r) = key.strip_prefix("Assert") {
                (true, r)
            } else {
                unknown(key, loc, diags);
                return Ok(());
            };
            let Some(kind) = condition(rest) else {
                ignored(key, loc, diags);
                return Ok(());
            };
            let target = if is_assert {
                &mut unit.asserts
            } else {
                &mut unit.conditions
            };
            if v.is_empty() {
                target.clear();
                return Ok(());
            }
            let (trigger, v) = match v.strip_prefix('|') {
                Some(r) => (true, r),
                None => (false, v),
            };
            let (negate, value) = match v.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, v),
            };
            match kind {
                ConditionKind::KernelCommandLine => {}
                ConditionKind::FirstBoot | ConditionKind::ACPower => {
                    parse_bool(value)?;
                }
                ConditionKind::Capability => {
                    let known = value
                        .strip_prefix("CAP_")
                        .is_some_and(|c| CAPS.contains(&c));
                    if !known {
                        return Err(format!("unknown capability {value:?}"));
                    }
                }
                ConditionKind::Virtualization => {
                    let known = parse_bool(value).is_ok()
                        || ["vm", "container", "private-users"].contains(&value)
                        || super::condition_names::VIRT_NAMES.contains(&value);
                    if !known {
                        return Err(format!("unknown virtualization {value:?}"));
                    }
                }
                ConditionKind::Security
                    if !super::condition_names::SECURITY_NAMES.contains(&value) =>
                {
                    diags.warn(
                        loc.to_string(),
                        format!("{key}={value} is not checked by b8g-init; taken as met"),
                    );
                }
                ConditionKind::Security => {}
                _ if !value.starts_with('/') => {
                    return Err(format!("path {value:?} is not absolute"));
                }
                _ => {}
            }
            target.push(Condition {
                kind,
                negate,
                trigger,
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(name: &str, text: &str) -> (Unit, Vec<Diagnostic>) {
        let mut raw = RawUnit::default();
        let mut list = Vec::new();
        for e in raw.add_source(Path::new(name), text) {
            list.push(Diagnostic {
                location: format!("{}:{}", e.file, e.line),
                error: true,
                message: e.message,
            });
        }
        let mut warned = BTreeSet::new();
        let u = unit_from_raw(
            name,
            &raw,
            &SpecifierDirs::default(),
            &mut Diags {
                list: &mut list,
                warned: &mut warned,
            },
        );
        (u, list)
    }

    #[test]
    fn systemd_units_from_debian() {
        // From systemd-tmpfiles-setup.service and systemd-machine-id-commit.service.
        let (u, d) = load(
            "t.service",
            "[Unit]\nConditionPathIsMountPoint=/etc/machine-id\nConditionPathIsSymbolicLink=!/x\n\
             ConditionPathExists=|/lib/systemd/system/dbus.service\n\
             [Service]\nType=oneshot\nExecStart=/bin/true\nSuccessExitStatus=DATAERR CANTCREAT 3\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(u.conditions[0].kind, ConditionKind::PathIsMountPoint);
        assert_eq!(u.conditions[1].kind, ConditionKind::PathIsSymbolicLink);
        assert!(u.conditions[2].trigger && !u.conditions[1].trigger);
        assert_eq!(u.service().unwrap().success_exit_status, [65, 73, 3]);
    }

    #[test]
    fn host_conditions() {
        // From Debian's systemd-firstboot, systemd-sysusers, systemd-pcrphase and
        // modprobe@ units.
        let (u, d) = load(
            "t.service",
            "[Unit]\nConditionFirstBoot=yes\nConditionNeedsUpdate=|/etc\n\
             ConditionVirtualization=!container\nConditionCapability=CAP_SYS_MODULE\n\
             ConditionSecurity=tpm2\nAssertACPower=true\n\
             [Service]\nType=oneshot\nExecStart=/bin/true\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let kinds: Vec<ConditionKind> = u.conditions.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ConditionKind::FirstBoot,
                ConditionKind::NeedsUpdate,
                ConditionKind::Virtualization,
                ConditionKind::Capability,
                ConditionKind::Security,
            ]
        );
        assert!(u.conditions[1].trigger && u.conditions[2].negate);
        assert_eq!(u.asserts[0].kind, ConditionKind::ACPower);
        let (_, d) = load(
            "t.service",
            "[Unit]\nConditionFirstBoot=maybe\nConditionCapability=CAP_NOPE\n\
             ConditionVirtualization=teapot\n[Service]\nExecStart=/bin/true\n",
        );
        assert_eq!(d.iter().filter(|d| d.error).count(), 3, "{d:?}");
    }

    #[test]
    fn service_directives() {
        let (u, d) = load(
            "web@8080.service",
            "[Unit]\nDescription=Web %i\nRequires=a.service b.service\nWants=c.service\nAfter=a.service\n\
             ConditionPathExists=!/nonexistent\nConditionKernelCommandLine=quiet\n\
             [Service]\nType=notify\nExecStart=-@/bin/srv srv --port=%i \"a b\" $X ${Y}\n\
             Environment=A=1 \"B=two words\"\nRestart=on-failure\nRestartSec=250ms\nKillMode=mixed\n\
             KillSignal=SIGINT\nSendSIGHUP=yes\nLimitNOFILE=1024:4096\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
             SuccessExitStatus=3 SIGUSR1\nProtectSystem=strict\nProtectHome=yes\nStandardOutput=append:/var/log/x\n\
             [Install]\nWantedBy=multi-user.target\n",
        );
        assert!(d.iter().all(|d| !d.error), "{d:?}");
        // The sandbox settings are enforced now: nothing is "not enforced".
        assert!(
            !d.iter().any(|d| d.message.contains("not enforced")),
            "{d:?}"
        );
        assert_eq!(u.description.as_deref(), Some("Web 8080"));
        assert_eq!(u.deps.requires.len(), 2);
        assert_eq!(u.conditions.len(), 2);
        assert!(u.conditions[0].negate);
        let s = u.service().unwrap();
        assert_eq!(s.service_type, ServiceType::Notify);
        assert_eq!(s.exec.sandbox.protect_system, ProtectSystem::Strict);
        assert_eq!(s.exec.sandbox.protect_home, ProtectHome::Yes);
        let c = &s.exec_start[0];
        assert!(c.ignore_failure && c.custom_argv0 && !c.privileged);
        assert_eq!(
            c.argv,
            ["/bin/srv", "srv", "--port=8080", "a b", "$X", "${Y}"]
        );
        assert_eq!(c.location, "web@8080.service:10");
        assert_eq!(
            s.exec.environment,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(s.restart, RestartPolicy::OnFailure);
        assert_eq!(s.restart_sec, Duration::from_millis(250));
        assert_eq!(s.kill_mode, KillMode::Mixed);
        assert_eq!(s.kill_signal, libc::SIGINT);
        assert!(s.send_sighup);
        assert_eq!(s.exec.limits[0].soft, 1024);
        assert_eq!(
            s.exec
                .capability_bounding_set
                .as_ref()
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [10]
        );
        assert_eq!(s.success_exit_status, [3]);
        assert_eq!(s.success_signals, [libc::SIGUSR1]);
        assert_eq!(u.install.wanted_by, ["multi-user.target"]);
    }

    #[test]
    fn notify_access_and_its_systemd_default() {
        let access = |body: &str| {
            let (u, d) = load(
                "n.service",
                &format!("[Service]\nExecStart=/bin/true\n{body}"),
            );
            assert!(d.iter().all(|d| !d.error), "{d:?}");
            u.service().map(|s| s.notify_access())
        };
        assert_eq!(access(""), Some(NotifyAccess::None));
        assert_eq!(access("Type=notify\n"), Some(NotifyAccess::Main));
        assert_eq!(access("Type=notify-reload\n"), Some(NotifyAccess::Main));
        assert_eq!(access("WatchdogSec=5s\n"), Some(NotifyAccess::Main));
        assert_eq!(
            access("Type=notify\nNotifyAccess=none\n"),
            Some(NotifyAccess::None)
        );
        assert_eq!(access("NotifyAccess=exec\n"), Some(NotifyAccess::Exec));
        assert_eq!(
            access("Type=notify\nNotifyAccess=all\n"),
            Some(NotifyAccess::All)
        );
        let (_, d) = load(
            "n.service",
            "[Service]\nExecStart=/bin/true\nNotifyAccess=some\n",
        );
        assert!(
            d.iter()
                .any(|d| d.error && d.message.contains("NotifyAccess")),
            "{d:?}"
        );
    }

    #[test]
    fn bad_values_are_errors_with_location() {
        let (u, d) = load(
            "bad.service",
            "[Service]\nType=bogus\nExecStart=/bin/true\nNice=99\n",
        );
        let errs: Vec<_> = d
            .iter()
            .filter(|d| d.error)
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            errs[0],
            "bad.service:2: error: Type=: unknown service type \"bogus\""
        );
        assert_eq!(
            errs[1],
            "bad.service:4: error: Nice=: nice value 99 out of range"
        );
        assert!(u.load_error.is_some());
        let (u, _) = load("colon.service", "[Service]\nExecStart=:/bin/echo $HOME\n");
        assert!(!u.service().unwrap().exec_start[0].expand);
        let (_, d) = load("nostart.service", "[Service]\nType=simple\n");
        assert!(d[0].message.contains("no ExecStart"));
    }

    #[test]
    fn timeout_zero_and_infinity_mean_no_timeout() {
        let t = |body: &str| {
            let (u, d) = load(
                "t.service",
                &format!("[Service]\nExecStart=/bin/true\n{body}"),
            );
            assert!(d.iter().all(|d| !d.error), "{d:?}");
            let s = u.service().unwrap();
            (s.timeout_start, s.timeout_stop)
        };
        assert_eq!(t(""), (Timeout::Default, Timeout::Default));
        assert_eq!(t("TimeoutStartSec=0\n"), (Timeout::Never, Timeout::Default));
        assert_eq!(
            t("TimeoutStopSec=infinity\n"),
            (Timeout::Default, Timeout::Never)
        );
        assert_eq!(t("TimeoutSec=0\n"), (Timeout::Never, Timeout::Never));
        let m = Duration::from_secs(60);
        assert_eq!(
            t("TimeoutSec=1min\n"),
            (Timeout::After(m), Timeout::After(m))
        );
        let d = Duration::from_secs(90);
        assert_eq!(Timeout::Never.resolve(d), None);
        assert_eq!(Timeout::Default.resolve(d), Some(d));
        assert_eq!(Timeout::Default.resolve(Duration::ZERO), None);
        // Type=oneshot has no start timeout unless it asks for one.
        let start = |body: &str| {
            let (u, _) = load(
                "o.service",
                &format!("[Service]\nExecStart=/bin/true\n{body}"),
            );
            u.service().unwrap().start_timeout(d)
        };
        assert_eq!(start(""), Some(d));
        assert_eq!(start("Type=oneshot\n"), None);
        assert_eq!(
            start("Type=oneshot\nTimeoutStartSec=5s\n"),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn exec_lines_unescape_inside_single_quotes() {
        // Regression: Debian 12's getty@.service; agetty must get `-p -- \u`.
        let (u, d) = load(
            "getty@tty1.service",
            "[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            u.service().unwrap().exec_start[0].argv,
            ["/sbin/agetty", "-o", "-p -- \\u", "--noclear", "-", "$TERM"]
        );
        let w = |s: &str| split_words(s).unwrap();
        assert_eq!(
            w(r#"a\tb "c\x41\101\u00e9" 'd\se' \U0001F600"#),
            ["a\tb", "cAAé", "d e", "😀"]
        );
        assert_eq!(w(r#"a"b c"d 'e"f' "g'h""#), ["ab cd", "e\"f", "g'h"]);
        // Unknown escapes, NUL and a trailing backslash stay verbatim, with a warning.
        assert_eq!(w(r#"\q \x00 x\"#), ["\\q", "\\x00", "x\\"]);
        let (_, d) = load("q.service", "[Service]\nExecStart=/bin/echo \\q\n");
        assert!(
            d.iter()
                .any(|d| !d.error && d.message.contains("unknown escape")),
            "{d:?}"
        );
        assert!(split_words("'open").is_err());
        assert!(split_words("'x\\").is_err());
        assert_eq!(split_variable_value("'a b' c\\ d 'e"), ["a b", "c d", "e"]);
    }

    #[test]
    fn limit_forms_as_systemd_reads_them() {
        let lim = |k: &str, v: &str| parse_rlimit(k, v).map(|l| (l.soft, l.hard));
        let inf = libc::RLIM_INFINITY;
        assert_eq!(lim("LimitNOFILE", "infinity"), Ok((inf, inf)));
        assert_eq!(lim("LimitNOFILE", "1024:524288"), Ok((1024, 524288)));
        assert_eq!(lim("LimitNOFILE", "1024:infinity"), Ok((1024, inf)));
        assert!(lim("LimitNOFILE", "4096:1024").is_err());
        assert!(lim("LimitNOFILE", "1K").is_err());
        assert_eq!(lim("LimitMEMLOCK", "64K"), Ok((65536, 65536)));
        assert_eq!(lim("LimitAS", "1.5G:2G"), Ok((3 << 29, 2 << 30)));
        assert_eq!(lim("LimitCORE", "0"), Ok((0, 0)));
        assert_eq!(lim("LimitCPU", "2min"), Ok((120, 120)));
        assert_eq!(lim("LimitCPU", "1500ms"), Ok((2, 2)));
        assert_eq!(lim("LimitRTTIME", "200"), Ok((200, 200)));
        assert_eq!(lim("LimitRTTIME", "1s"), Ok((1_000_000, 1_000_000)));
        assert_eq!(lim("LimitNICE", "-5"), Ok((25, 25)));
        assert_eq!(lim("LimitNICE", "40"), Ok((40, 40)));
        assert!(lim("LimitNICE", "41").is_err());
        assert!(lim("LimitNPROC", "lots").is_err());
    }

    #[test]
    fn percent_is_literal_where_systemd_expands_no_specifiers() {
        // Regression: mariadb.service's resource settings made it unloadable.
        let (u, d) = load(
            "mariadb.service",
            "[Unit]\nDescription=%N on %H\n[Service]\nCPUQuota=50%\nTasksMax=99%\nMemoryMax=80%\n\
             ExecStart=/usr/sbin/mariadbd --x=%n\nEnvironment=A=%p\n",
        );
        assert!(d.iter().all(|d| !d.error), "{d:?}");
        assert!(u.load_error.is_none());
        assert_eq!(u.description.as_deref(), Some("mariadb on localhost"));
        let s = u.service().unwrap();
        assert_eq!(s.exec_start[0].argv[1], "--x=mariadb.service");
        assert_eq!(s.exec.environment, [("A".into(), "mariadb".into())]);
        // An unknown specifier: the setting is ignored with a warning, except on a
        // command line, where it is an error unless the line starts with `-`.
        let (u, d) = load(
            "q.service",
            "[Unit]\nDescription=%Q\n[Service]\nExecStart=/bin/true\nExecStartPre=-/bin/x %Q\n",
        );
        assert!(d.iter().all(|d| !d.error), "{d:?}");
        assert!(u.description.is_none() && u.service().unwrap().exec_start_pre.is_empty());
        let (u, _) = load("q.service", "[Service]\nExecStart=/bin/x %Q\n");
        assert!(u.load_error.is_some());
    }

    #[test]
    fn type_dbus_needs_a_bus_name_and_is_the_default_with_one() {
        // Regression: Type=dbus made 13 Debian units unloadable (NetworkManager, polkit…).
        let (u, d) = load(
            "polkit.service",
            "[Service]\nType=dbus\nBusName=org.freedesktop.PolicyKit1\nExecStart=/usr/lib/polkit-1/polkitd --no-debug\n",
        );
        assert!(u.load_error.is_none(), "{d:?}");
        let s = u.service().unwrap();
        assert_eq!(s.service_type, ServiceType::Dbus);
        assert_eq!(s.bus_name.as_deref(), Some("org.freedesktop.PolicyKit1"));
        assert!(d.is_empty(), "{d:?}");
        let (u, _) = load(
            "implicit.service",
            "[Service]\nBusName=org.example.X\nExecStart=/bin/x\n",
        );
        assert_eq!(u.service().unwrap().service_type, ServiceType::Dbus);
        let (u, _) = load(
            "explicit.service",
            "[Service]\nType=simple\nBusName=org.example.X\nExecStart=/bin/x\n",
        );
        assert_eq!(u.service().unwrap().service_type, ServiceType::Simple);
        assert!(kinds::is_bus_name("org.freedesktop.PolicyKit1"));
        for bad in ["x", "a..b", "a.1b", "a.b'", ":1.5", "a.b c"] {
            assert!(!kinds::is_bus_name(bad), "{bad}");
        }
        let (u, _) = load(
            "nameless.service",
            "[Service]\nType=dbus\nExecStart=/bin/x\n",
        );
        assert!(u
            .load_error
            .is_some_and(|e| e.contains("Type=dbus but has no BusName=")));
    }

    #[test]
    fn path_exists_glob_conditions_are_parsed() {
        // Regression: ConditionPathExistsGlob= was ignored (taken as met).
        let (u, d) = load(
            "g.service",
            "[Unit]\nConditionPathExistsGlob=/dev/tty[0-9]*\nAssertPathExistsGlob=!/x/*.conf\n\
             [Service]\nExecStart=/bin/true\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(u.conditions[0].kind, ConditionKind::PathExistsGlob);
        assert_eq!(u.asserts[0].kind, ConditionKind::PathExistsGlob);
        assert!(u.asserts[0].negate);
    }

    #[test]
    fn old_directive_names_and_socket_exec_lines_are_known() {
        // chrony.service, redis-server.service, sssd-nss.socket in Debian 12.
        let (_, d) = load(
            "r.service",
            "[Service]\nExecStart=/bin/a\nReadWriteDirectories=/var/lib/r\nPermissionsStartOnly=true\nRuntimeDirectoryPreserve=yes\n",
        );
        assert!(
            d.iter()
                .all(|d| !d.error && !d.message.starts_with("unknown")),
            "{d:?}"
        );
        let (_, d) = load(
            "l.service",
            "[Service]\nExecStart=/bin/a\nLoadCredential=k:/etc/k\nRuntimeMaxSec=5\nMountFlags=slave\n",
        );
        assert!(
            d.iter()
                .all(|d| d.message.contains("parsed but not enforced")),
            "{d:?}"
        );
        let (_, d) = load(
            "s.socket",
            "[Socket]\nListenStream=/run/s.sock\nExecStartPre=-/bin/true\n",
        );
        assert!(
            d.len() == 1
                && d[0]
                    .message
                    .starts_with("ExecStartPre= is parsed but not enforced"),
            "{d:?}"
        );
    }

    #[test]
    fn pid_file_reset_and_relative_environment_words_ignored() {
        // Debian 12: freedombox's coturn drop-in, ziproxy.service, unicorn.service.
        let (u, d) = load(
            "p.service",
            "[Service]\nExecStart=/bin/a\nPIDFile=/run/a.pid\nPIDFile=\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(u.service().unwrap().pid_file, None);
        let (u, d) = load(
            "z.service",
            "[Service]\nExecStart=/bin/a\nPIDFile=ziproxy.pid\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            u.service().unwrap().pid_file.as_deref(),
            Some(Path::new("/run/ziproxy.pid"))
        );
        let (u, d) = load(
            "u.service",
            "[Service]\nExecStart=/bin/a\nEnvironment=UNICORN_OPTS=-E production\nEnvironment=\"B=x y\"\n",
        );
        assert!(d.len() == 1 && !d[0].error, "{d:?}");
        assert!(d[0].message.contains("\"production\", ignoring"), "{d:?}");
        assert_eq!(
            u.service().unwrap().exec.environment,
            [
                ("UNICORN_OPTS".to_string(), "-E".to_string()),
                ("B".to_string(), "x y".to_string())
            ]
        );
    }

    #[test]
    fn lone_escaped_semicolon_is_a_literal_argument() {
        // Debian 12's amavis.service and atop.service.
        let (u, d) = load(
            "a.service",
            "[Service]\nExecStart=/usr/bin/find /v -name 'a-*' -exec rm -rf \"{}\" \\;\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let s = u.service().unwrap();
        assert_eq!(
            s.exec_start[0].argv,
            [
                "/usr/bin/find",
                "/v",
                "-name",
                "a-*",
                "-exec",
                "rm",
                "-rf",
                "{}",
                ";"
            ]
        );
        // Only a lone one: inside a word it stays an unknown escape, in quotes too.
        let (u, d) = load(
            "b.service",
            "[Service]\nExecStart=/bin/echo a\\;b '\\;' \\; x\n",
        );
        assert!(
            d.len() == 1 && d[0].message.contains("unknown escape"),
            "{d:?}"
        );
        assert_eq!(
            u.service().unwrap().exec_start[0].argv,
            ["/bin/echo", "a\\;b", "\\;", ";", "x"]
        );
    }

    #[test]
    fn lone_semicolons_separate_commands() {
        // Debian 12's netctl-sleep.service and kup-server.service.
        let (u, d) = load(
            "n.service",
            "[Service]\nType=oneshot\nExecStart=/usr/bin/netctl store ; -/usr/bin/netctl stop-all\nExecStop=/bin/echo 'a ; b' \\; c;d ;\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let s = u.service().unwrap();
        assert_eq!(s.exec_start.len(), 2);
        assert_eq!(s.exec_start[0].argv, ["/usr/bin/netctl", "store"]);
        assert_eq!(s.exec_start[1].argv, ["/usr/bin/netctl", "stop-all"]);
        assert!(!s.exec_start[0].ignore_failure && s.exec_start[1].ignore_failure);
        assert_eq!(s.exec_stop.len(), 1);
        assert_eq!(s.exec_stop[0].argv, ["/bin/echo", "a ; b", ";", "c;d"]);
    }

    #[test]
    fn empty_assignment_resets_lists() {
        let (u, _) = load("r.service", "[Unit]\nWants=a.service\nWants=\nWants=b.service\n[Service]\nExecStart=/bin/a\nExecStart=\nExecStart=/bin/b\n");
        assert_eq!(u.deps.wants.iter().collect::<Vec<_>>(), ["b.service"]);
        assert_eq!(u.service().unwrap().exec_start.len(), 1);
    }

    #[test]
    fn socket_timer_mount() {
        let (u, d) = load("x.socket", "[Socket]\nListenStream=/run/x.sock\nListenStream=127.0.0.1:8080\nListenDatagram=5353\nAccept=yes\n");
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(&u.config, KindConfig::Socket(s) if s.listen.len() == 3 && s.accept));
        let (_, d) = load("y.socket", "[Socket]\nListenStream=not an address\n");
        assert!(d[0].error);
        // Debian's acpi-fakekey.socket and cloud-init-hotplugd.socket.
        let (u, d) = load(
            "f.socket",
            "[Socket]\nListenFIFO=/run/acpi_fakekey\nSocketMode=0200\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(&u.config, KindConfig::Socket(s) if s.listen[0].kind == ListenKind::Fifo));
        // systemd's own daemons' sockets (udevd, journald's audit, rfkill).
        let (u, d) = load(
            "k.socket",
            "[Socket]\nListenNetlink=kobject-uevent 1\nListenSpecial=/dev/rfkill\n",
        );
        assert!(u.load_error.is_none(), "{d:?}");
        assert_eq!(netlink_address("kobject-uevent 1"), Ok((15, 1)));
        assert_eq!(netlink_address("audit"), Ok((9, 0)));
        assert!(netlink_address("nosuch 1").is_err() && netlink_address("route x").is_err());
        let (u, _) = load("s.socket", "[Socket]\nListenSpecial=dev/rfkill\n");
        assert!(u.load_error.is_some());
        let (_, d) = load("g.socket", "[Socket]\nListenFIFO=run/relative\n");
        assert!(d[0].error, "{d:?}");
        let (u, d) = load(
            "t.timer",
            "[Timer]\nOnBootSec=1s\nOnUnitActiveSec=2s\nOnCalendar=hourly\nUnit=x.service\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(&u.config, KindConfig::Timer(t) if t.on_calendar.len() == 1));
        let (_, d) = load(
            "var-log.mount",
            "[Mount]\nWhat=tmpfs\nWhere=/var/log\nType=tmpfs\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let (_, d) = load("var-lag.mount", "[Mount]\nWhat=tmpfs\nWhere=/var/log\n");
        assert!(d[0].message.contains("does not match"));
    }

    #[test]
    fn slice_units_carry_resource_settings_and_their_parent() {
        let (u, d) = load(
            "web-front.slice",
            "[Unit]\nDescription=front\n[Slice]\nMemoryMax=1G\nCPUWeight=50\nSlice=x.slice\n",
        );
        let KindConfig::Slice(c) = &u.config else {
            panic!("{:?}", u.config)
        };
        assert_eq!(c.memory_max, Some(crate::cgroup::Limit::Absolute(1 << 30)));
        assert_eq!((c.cpu_weight, c.slice.as_deref()), (Some(50), None));
        assert!(d.iter().any(|d| d.message.contains("Slice=")), "{d:?}");
    }
}
