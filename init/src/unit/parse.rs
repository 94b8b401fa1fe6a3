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
    "ReceiveBuffer",
    "SendBuffer",
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
    "BusName",
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
    "SourcePath",
    "PassCredentials",
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
    "RequiresMountsFor",
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

fn set_list(target: &mut BTreeSet<String>, v: &str) {
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

/// Splits a command line (or an `Environment=` value) into words as systemd does
/// (`extract_first_word` with unquoting and C unescaping): whitespace separates words,
/// single and double quotes group and are removed, and a backslash starts a C escape
/// inside quotes too (`'-p -- \\u'` gives `-p -- \u`, as Debian's getty needs).
/// Variables are left for run time. An unknown escape is kept verbatim (backslash and
/// all), as systemd does after warning; so is `\xNN` or octal above 0x7f, a raw byte
/// that a UTF-8 argument cannot hold.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    Ok(split_words_noting(s)?.0)
}

/// [`split_words`], also saying whether an unknown escape was kept verbatim.
pub fn split_words_noting(s: &str) -> Result<(Vec<String>, bool), String> {
    let mut kept = false;
    let words = extract_words(s, true, false, &mut kept)?;
    Ok((words, kept))
}

/// An Exec line's words: as [`split_words_noting`], and a lone `\;` is a literal `;`
/// argument, as systemd.service(5) says (`find … -exec rm {} \;` in amavis.service).
fn split_exec_words(s: &str) -> Result<(Vec<String>, bool), String> {
    let mut kept = false;
    let mut words = Vec::new();
    let mut rest = s;
    // Cut at each unquoted lone `\;`, split the pieces, and put `;` between them.
    loop {
        match find_lone_escaped_semicolon(rest) {
            Some(at) => {
                words.extend(extract_words(&rest[..at], true, false, &mut kept)?);
                words.push(";".to_string());
                rest = &rest[at + 2..];
            }
            None => {
                words.extend(extract_words(rest, true, false, &mut kept)?);
                return Ok((words, kept));
            }
        }
    }
}

/// The byte offset of the first `\;` that stands alone as a word outside quotes.
fn find_lone_escaped_semicolon(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (b[i], quote) {
            (b'\\', None)
                if b.get(i + 1) == Some(&b';')
                    && (i == 0 || is_separator(b[i - 1] as char))
                    && b.get(i + 2).is_none_or(|c| is_separator(*c as char)) =>
            {
                return Some(i);
            }
            (b'\\', _) => i += 1,
            (c, Some(q)) if c == q => quote = None,
            (b'\'' | b'"', None) => quote = Some(b[i]),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits a variable's value for a `$VAR` word of a command line: quotes are respected
/// and removed, a backslash takes the next character literally, unbalanced quotes end
/// the word (systemd's `EXTRACT_RELAX|EXTRACT_UNQUOTE`).
pub fn split_variable_value(s: &str) -> Vec<String> {
    extract_words(s, false, true, &mut false).unwrap_or_default()
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn extract_words(
    s: &str,
    cunescape: bool,
    relax: bool,
    kept_escape: &mut bool,
) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while chars.get(i).copied().is_some_and(is_separator) {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(words);
        }
        let mut w = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match (c, quote) {
                ('\\', _) => {
                    let Some(&next) = chars.get(i) else {
                        if quote.is_none() && !relax {
                            // systemd keeps a trailing unquoted backslash (after a warning).
                            *kept_escape = true;
                            w.push('\\');
                        }
                        break;
                    };
                    match cunescape.then(|| cunescape_one(&chars[i..])) {
                        None => {
                            w.push(next);
                            i += 1;
                        }
                        Some(Some((ch, used))) => {
                            w.push(ch);
                            i += used;
                        }
                        Some(None) => {
                            *kept_escape = true;
                            w.push('\\');
                            w.push(next);
                            i += 1;
                        }
                    }
                }
                (c, Some(q)) if c == q => quote = None,
                (c, Some(_)) => w.push(c),
                ('\'' | '"', None) => quote = Some(c),
                (c, None) if is_separator(c) => break,
                (c, None) => w.push(c),
            }
        }
        if quote.is_some() && !relax {
            return Err(format!("unbalanced quoting in {s:?}"));
        }
        words.push(w);
    }
}

/// One C escape as systemd's `cunescape_one` reads it, `rest` starting after the
/// backslash: the character and how many characters of `rest` it used, or `None` for
/// an unknown or unrepresentable escape (NUL, or a raw byte above 0x7f).
fn cunescape_one(rest: &[char]) -> Option<(char, usize)> {
    let digits = |n: usize, radix: u32| -> Option<u32> {
        let ds = rest.get(1..=n)?;
        ds.iter()
            .try_fold(0u32, |acc, c| c.to_digit(radix).map(|d| acc * radix + d))
    };
    let simple = match rest.first()? {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        '"' => '"',
        '\'' => '\'',
        's' => ' ',
        'x' => {
            let v = digits(2, 16).filter(|v| (1..0x80).contains(v))?;
            return Some((char::from_u32(v)?, 3));
        }
        'u' => {
            let v = digits(4, 16).filter(|v| *v != 0)?;
            return Some((char::from_u32(v)?, 5));
        }
        'U' => {
            let v = digits(8, 16).filter(|v| *v != 0)?;
            return Some((char::from_u32(v)?, 9));
        }
        c if c.is_digit(8) => {
            let first = c.to_digit(8)?;
            let v = digits(2, 8).map(|rest2| first * 64 + rest2)?;
            let v = Some(v).filter(|v| (1..0x80).contains(v))?;
            return Some((char::from_u32(v)?, 3));
        }
        _ => return None,
    };
    Some((simple, 1))
}

fn parse_exec(v: &str, loc: &str, diags: &mut Diags) -> Result<ExecCommand, String> {
    let mut rest = v.trim_start();
    let mut cmd = ExecCommand {
        argv: vec![],
        ignore_failure: false,
        custom_argv0: false,
        privileged: false,
        expand: true,
        location: loc.to_string(),
    };
    loop {
        match rest.chars().next() {
            Some('-') => cmd.ignore_failure = true,
            Some('@') => cmd.custom_argv0 = true,
            Some('+') | Some('!') => cmd.privileged = true,
            Some(':') => cmd.expand = false,
            _ => break,
        }
        rest = &rest[1..];
    }
    let (argv, kept_escape) = split_exec_words(rest)?;
    if kept_escape {
        diags.warn(
            loc.to_string(),
            format!("ignoring unknown escape sequences in {rest:?}"),
        );
    }
    cmd.argv = argv;
    if cmd.argv.is_empty() {
        return Err("empty command".into());
    }
    if !cmd.argv[0].starts_with('/') && cmd.argv[0].contains('/') {
        return Err(format!(
            "executable path {:?} is neither absolute nor a plain name",
            cmd.argv[0]
        ));
    }
    if cmd.custom_argv0 && cmd.argv.len() < 2 {
        return Err("@ needs an argv[0] after the path".into());
    }
    Ok(cmd)
}

fn push_exec(
    target: &mut Vec<ExecCommand>,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    if v.is_empty() {
        target.clear();
        return Ok(());
    }
    // A lone unquoted `;` separates commands, each with its own prefixes, as in
    // systemd's config_parse_exec (netctl-sleep.service, kup-server.service).
    for part in split_lone_semicolons(v) {
        target.push(parse_exec(part, loc, diags)?);
    }
    Ok(())
}

/// `v` cut at each `;` that stands alone as a word outside quotes; a trailing one
/// ends the line.
fn split_lone_semicolons(v: &str) -> Vec<&str> {
    let b = v.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (b[i], quote) {
            (b';', None)
                if (i == 0 || is_separator(b[i - 1] as char))
                    && b.get(i + 1).is_none_or(|c| is_separator(*c as char)) =>
            {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            (b'\\', _) => i += 1,
            (c, Some(q)) if c == q => quote = None,
            (b'\'' | b'"', None) => quote = Some(b[i]),
            _ => {}
        }
        i += 1;
    }
    if !v[start..].trim().is_empty() || parts.is_empty() {
        parts.push(&v[start..]);
    }
    parts
}

/// Signal names (with or without `SIG`) and numbers, as unit files and
/// `systemctl kill -s` spell them.
pub fn parse_signal(v: &str) -> Result<i32, String> {
    signal_number(v).ok_or_else(|| format!("unknown signal {v:?}"))
}

/// The signal `v` names (`TERM`, `SIGTERM`, `15`), if any.
pub fn signal_number(v: &str) -> Option<i32> {
    if let Ok(n) = v.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let n = v.strip_prefix("SIG").unwrap_or(v);
    Some(match n {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

/// Exit status names systemd accepts in `SuccessExitStatus=`: the BSD sysexits
/// (`DATAERR` = 65, as systemd-tmpfiles uses) and the LSB init-script codes.
fn exit_status_name(w: &str) -> Option<i32> {
    Some(match w {
        "USAGE" => 64,
        "DATAERR" => 65,
        "NOINPUT" => 66,
        "NOUSER" => 67,
        "NOHOST" => 68,
        "UNAVAILABLE" => 69,
        "SOFTWARE" => 70,
        "OSERR" => 71,
        "OSFILE" => 72,
        "CANTCREAT" => 73,
        "IOERR" => 74,
        "TEMPFAIL" => 75,
        "PROTOCOL" => 76,
        "NOPERM" => 77,
        "CONFIG" => 78,
        "INVALIDARGUMENT" => 2,
        "NOTIMPLEMENTED" => 3,
        "NOPERMISSION" => 4,
        "NOTINSTALLED" => 5,
        "NOTCONFIGURED" => 6,
        "NOTRUNNING" => 7,
        _ => return None,
    })
}

/// Names of capabilities in kernel order (CAP_CHOWN = 0 …).
pub const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn parse_caps(v: &str, cur: &mut Option<BTreeSet<u32>>) -> Result<(), String> {
    if v.is_empty() {
        *cur = Some(BTreeSet::new());
        return Ok(());
    }
    let (invert, v) = match v.strip_prefix('~') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let mut set = BTreeSet::new();
    for w in v.split_whitespace() {
        let n = w
            .strip_prefix("CAP_")
            .ok_or_else(|| format!("unknown capability {w:?}"))?;
        let i = CAPS
            .iter()
            .position(|c| *c == n)
            .ok_or_else(|| format!("unknown capability {w:?}"))?;
        set.insert(i as u32);
    }
    let all: BTreeSet<u32> = (0..CAPS.len() as u32).collect();
    let base = cur
        .take()
        .unwrap_or_else(|| if invert { all.clone() } else { BTreeSet::new() });
    *cur = Some(if invert {
        base.difference(&set).copied().collect()
    } else {
        base.union(&set).copied().collect()
    });
    Ok(())
}

fn rlimit_resource(key: &str) -> Option<i32> {
    Some(match key {
        "LimitCPU" => libc::RLIMIT_CPU,
        "LimitFSIZE" => libc::RLIMIT_FSIZE,
        "LimitDATA" => libc::RLIMIT_DATA,
        "LimitSTACK" => libc::RLIMIT_STACK,
        "LimitCORE" => libc::RLIMIT_CORE,
        "LimitRSS" => libc::RLIMIT_RSS,
        "LimitNOFILE" => libc::RLIMIT_NOFILE,
        "LimitAS" => libc::RLIMIT_AS,
        "LimitNPROC" => libc::RLIMIT_NPROC,
        "LimitMEMLOCK" => libc::RLIMIT_MEMLOCK,
        "LimitLOCKS" => libc::RLIMIT_LOCKS,
        "LimitSIGPENDING" => libc::RLIMIT_SIGPENDING,
        "LimitMSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "LimitNICE" => libc::RLIMIT_NICE,
        "LimitRTPRIO" => libc::RLIMIT_RTPRIO,
        "LimitRTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    } as i32)
}

/// One limit value as systemd's `rlimit_parse_one` reads it for `resource`: `infinity`;
/// sizes in bytes with an optional binary suffix (K, M, G, T, P, E; fractions allowed);
/// `LimitCPU=` as a time span in seconds (rounded up), `LimitRTTIME=` in microseconds
/// by default; `LimitNICE=` as a raw 0…40 or a nice value written `+N`/`-N`; the rest
/// as plain numbers.
fn rlimit_value(resource: i32, v: &str) -> Result<u64, String> {
    let v = v.trim();
    if v == "infinity" {
        return Ok(libc::RLIM_INFINITY);
    }
    let bad = || format!("invalid limit {v:?}");
    let size_resources = [
        libc::RLIMIT_FSIZE,
        libc::RLIMIT_DATA,
        libc::RLIMIT_STACK,
        libc::RLIMIT_CORE,
        libc::RLIMIT_RSS,
        libc::RLIMIT_AS,
        libc::RLIMIT_MEMLOCK,
        libc::RLIMIT_MSGQUEUE,
    ];
    if size_resources.iter().any(|r| *r as i32 == resource) {
        return parse_size_1024(v).ok_or_else(bad);
    }
    if resource == libc::RLIMIT_CPU as i32 {
        let d = span(v)?.ok_or_else(bad)?;
        return Ok(d.as_secs() + u64::from(d.subsec_nanos() > 0));
    }
    if resource == libc::RLIMIT_RTTIME as i32 {
        if let Ok(us) = v.parse::<u64>() {
            return Ok(us);
        }
        let d = span(v)?.ok_or_else(bad)?;
        return u64::try_from(d.as_micros()).map_err(|_| bad());
    }
    if resource == libc::RLIMIT_NICE as i32 {
        if v.starts_with(['+', '-']) {
            let n: i64 = v.parse().map_err(|_| bad())?;
            if !(-20..=19).contains(&n) {
                return Err(format!("nice value {n} out of range"));
            }
            return Ok((20 - n) as u64);
        }
        let n: u64 = v.parse().map_err(|_| bad())?;
        if n > 40 {
            return Err(format!("nice limit {n} out of range"));
        }
        return Ok(n);
    }
    v.parse::<u64>().map_err(|_| bad())
}

/// systemd's `parse_size(…, 1024)`: a number (fractions allowed) with an optional
/// B/K/M/G/T/P/E suffix; `None` when malformed or too large.
fn parse_size_1024(v: &str) -> Option<u64> {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(end);
    let shift = match suffix.trim_start() {
        "" | "B" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole = int.parse::<u64>().ok()?.checked_mul(1u64 << shift)?;
    let frac_bytes = if frac.is_empty() {
        0
    } else {
        let f: f64 = format!("0.{frac}").parse().ok()?;
        (f * (1u64 << shift) as f64) as u64
    };
    whole.checked_add(frac_bytes)
}

fn parse_rlimit(key: &str, v: &str) -> Result<Rlimit, String> {
    let resource = rlimit_resource(key).ok_or("unknown limit")?;
    let (soft, hard) = match v.split_once(':') {
        Some((s, h)) => (rlimit_value(resource, s)?, rlimit_value(resource, h)?),
        None => {
            let x = rlimit_value(resource, v)?;
            (x, x)
        }
    };
    if soft > hard {
        return Err("soft limit above hard limit".into());
    }
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

fn parse_stdio(v: &str, stderr: bool) -> Result<StdIo, String> {
    Ok(match v {
        "null" => StdIo::Null,
        "tty" | "tty-force" | "tty-fail" => StdIo::Tty,
        "journal" | "kmsg" | "syslog" => StdIo::Log,
        "socket" => StdIo::Socket,
        "inherit" if stderr => StdIo::Inherit,
        "inherit" => StdIo::Log,
        "console" | "journal+console" | "kmsg+console" | "syslog+console" => StdIo::LogAndConsole,
        _ => {
            if let Some(p) = v.strip_prefix("file:") {
                StdIo::File(abs(p)?)
            } else if let Some(p) = v.strip_prefix("append:") {
                StdIo::Append(abs(p)?)
            } else if let Some(p) = v.strip_prefix("truncate:") {
                StdIo::Truncate(abs(p)?)
            } else {
                return Err(format!("unsupported value {v:?}"));
            }
        }
    })
}

/// `ReadWritePaths=`-style lists: absolute paths, each maybe after `-` (ignore if
/// missing) or `+` (relative to RootDirectory=, which is the root here).
fn sandbox_paths(target: &mut Vec<String>, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        target.clear();
        return Ok(());
    }
    for w in v.split_whitespace() {
        let p = w.trim_start_matches(['-', '+']);
        if !p.starts_with('/') {
            return Err(format!("path {p:?} is not absolute"));
        }
        target.push(w.to_string());
    }
    Ok(())
}

/// `BindPaths=` and `TemporaryFileSystem=` entries: the first field an absolute path
/// (after an optional `-`), a destination absolute too.
fn sandbox_binds(target: &mut Vec<String>, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        target.clear();
        return Ok(());
    }
    for w in v.split_whitespace() {
        let mut f = w.trim_start_matches('-').split(':');
        let src = f.next().unwrap_or("");
        let dst = f.next().filter(|d| !d.is_empty() && !d.contains('='));
        if !src.starts_with('/') || dst.is_some_and(|d| !d.starts_with('/')) {
            return Err(format!("{w:?}: paths must be absolute"));
        }
        target.push(w.to_string());
    }
    Ok(())
}

fn abs(p: &str) -> Result<PathBuf, String> {
    if p.starts_with('/') {
        Ok(PathBuf::from(p))
    } else {
        Err(format!("path {p:?} is not absolute"))
    }
}

fn parse_listen(kind: ListenKind, v: &str) -> Result<Listen, String> {
    if kind == ListenKind::Fifo && !v.starts_with('/') {
        return Err(format!("ListenFIFO= needs an absolute path, not {v:?}"));
    }
    let ok = v.starts_with('/')
        || v.starts_with('@')
        || v.parse::<u16>().is_ok()
        || v.parse::<std::net::SocketAddr>().is_ok();
    if !ok {
        return Err(format!("unsupported listen address {v:?}"));
    }
    Ok(Listen {
        kind,
        address: v.to_string(),
    })
}

/// Parses `KEY=VALUE` words (with quotes) as in `Environment=`.
pub fn parse_env_assignments(v: &str) -> Result<Vec<(String, String)>, String> {
    split_words(v)?
        .into_iter()
        .map(|w| env_assignment(&w).ok_or_else(|| format!("invalid environment assignment {w:?}")))
        .collect()
}

/// One `KEY=VALUE` word, unquoted; `None` when it is not an assignment.
fn env_assignment(w: &str) -> Option<(String, String)> {
    let (k, val) = w.split_once('=')?;
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| (k.to_string(), val.to_string()))
}

fn condition(key: &str) -> Option<ConditionKind> {
    Some(match key {
        "PathExists" => ConditionKind::PathExists,
        "PathExistsGlob" => ConditionKind::PathExistsGlob,
        "PathIsDirectory" => ConditionKind::PathIsDirectory,
        "FileNotEmpty" => ConditionKind::FileNotEmpty,
        "DirectoryNotEmpty" => ConditionKind::DirectoryNotEmpty,
        "FileIsExecutable" => ConditionKind::FileIsExecutable,
        "KernelCommandLine" => ConditionKind::KernelCommandLine,
        "PathIsSymbolicLink" => ConditionKind::PathIsSymbolicLink,
        "PathIsMountPoint" => ConditionKind::PathIsMountPoint,
        "PathIsReadWrite" => ConditionKind::PathIsReadWrite,
        "FirstBoot" => ConditionKind::FirstBoot,
        "NeedsUpdate" => ConditionKind::NeedsUpdate,
        "Virtualization" => ConditionKind::Virtualization,
        "Capability" => ConditionKind::Capability,
        "Security" => ConditionKind::Security,
        "ACPower" => ConditionKind::ACPower,
        _ => return None,
    })
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
        "Timer" if unit.kind == UnitKind::Timer => apply_timer(unit, key, v, loc, diags),
        "Path" if unit.kind == UnitKind::Path => apply_path(unit, key, v, loc, diags),
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

fn set_dir_mode(slot: &mut Option<u32>, v: &str) -> Result<(), String> {
    *slot = Some(parse_mode(v)?);
    Ok(())
}

fn apply_exec_ctx(x: &mut ExecContext, key: &str, v: &str) -> Result<bool, String> {
    let cg = &mut x.cgroup;
    let opt = |v: &str, f: fn(&str) -> Result<crate::cgroup::Limit, String>| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            f(v).map(Some)
        }
    };
    match key {
        "Slice" => {
            if !v.is_empty() && !v.ends_with(".slice") {
                return Err(format!("{v:?} is not a slice name"));
            }
            cg.slice = Some(v.to_string()).filter(|s| !s.is_empty());
            return Ok(true);
        }
        "MemoryMax" | "MemoryLimit" => cg.memory_max = opt(v, crate::cgroup::parse_bytes)?,
        "MemoryHigh" => cg.memory_high = opt(v, crate::cgroup::parse_bytes)?,
        "MemoryLow" => cg.memory_low = opt(v, crate::cgroup::parse_bytes)?,
        "MemoryMin" => cg.memory_min = opt(v, crate::cgroup::parse_bytes)?,
        "MemorySwapMax" => cg.memory_swap_max = opt(v, crate::cgroup::parse_bytes)?,
        "TasksMax" => cg.tasks_max = opt(v, crate::cgroup::parse_tasks)?,
        "CPUQuota" => cg.cpu_quota = crate::cgroup::parse_cpu_quota(v)?,
        "CPUQuotaPeriodSec" => {
            cg.cpu_quota_period = if v.trim().is_empty() {
                None
            } else {
                parse_timespan(v)?
            }
        }
        "CPUWeight" => cg.cpu_weight = crate::cgroup::parse_weight(v, true)?,
        "IOWeight" => cg.io_weight = crate::cgroup::parse_weight(v, false)?,
        "Delegate" => {
            // A controller list delegates (those controllers); `no` does not.
            cg.delegate = parse_bool(v).unwrap_or(!v.trim().is_empty());
        }
        _ => return apply_exec_ctx_rest(x, key, v),
    }
    Ok(true)
}

fn apply_exec_ctx_rest(x: &mut ExecContext, key: &str, v: &str) -> Result<bool, String> {
    match key {
        "User" => x.user = Some(v.to_string()).filter(|s| !s.is_empty()),
        "Group" => x.group = Some(v.to_string()).filter(|s| !s.is_empty()),
        "SupplementaryGroups" => vec_list(&mut x.supplementary_groups, v),
        "Environment" => {
            if v.is_empty() {
                x.environment.clear();
            } else {
                x.environment.extend(parse_env_assignments(v)?);
            }
        }
        "EnvironmentFile" => {
            if v.is_empty() {
                x.environment_files.clear();
            } else {
                let (opt, p) = match v.strip_prefix('-') {
                    Some(r) => (true, r),
                    None => (false, v),
                };
                x.environment_files.push((abs(p)?, opt));
            }
        }
        "WorkingDirectory" => {
            let (opt, p) = match v.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, v),
            };
            if p != "~" && !p.starts_with('/') {
                return Err(format!("path {p:?} is not absolute"));
            }
            x.working_directory = Some((p.to_string(), opt));
        }
        "RootDirectory" => x.root_directory = Some(abs(v)?),
        "UMask" => x.umask = Some(parse_mode(v)?),
        "Nice" => {
            let n: i32 = v.parse().map_err(|_| format!("invalid nice value {v:?}"))?;
            if !(-20..=19).contains(&n) {
                return Err(format!("nice value {n} out of range"));
            }
            x.nice = Some(n);
        }
        "OOMScoreAdjust" => {
            let n: i32 = v.parse().map_err(|_| format!("invalid value {v:?}"))?;
            if !(-1000..=1000).contains(&n) {
                return Err(format!("OOM score adjustment {n} out of range"));
            }
            x.oom_score_adjust = Some(n);
        }
        "RuntimeDirectory" => vec_list(&mut x.runtime_directories, v),
        "StateDirectory" => vec_list(&mut x.state_directories, v),
        "LogsDirectory" => vec_list(&mut x.logs_directories, v),
        "CacheDirectory" => vec_list(&mut x.cache_directories, v),
        "RuntimeDirectoryMode" => set_dir_mode(&mut x.runtime_directory_mode, v)?,
        "StateDirectoryMode" => set_dir_mode(&mut x.state_directory_mode, v)?,
        "LogsDirectoryMode" => set_dir_mode(&mut x.logs_directory_mode, v)?,
        "CacheDirectoryMode" => set_dir_mode(&mut x.cache_directory_mode, v)?,
        "StandardInput" => x.stdin = Some(parse_stdio(v, false)?),
        "StandardOutput" => x.stdout = Some(parse_stdio(v, false)?),
        "StandardError" => x.stderr = Some(parse_stdio(v, true)?),
        "TTYPath" => x.tty_path = Some(abs(v)?),
        "SyslogIdentifier" => x.syslog_identifier = Some(v.to_string()),
        "SyslogLevel" => {
            x.syslog_level = Some(
                crate::syslog::level_number(v)
                    .ok_or_else(|| format!("invalid syslog level {v:?}"))?,
            )
        }
        "SyslogLevelPrefix" => x.syslog_level_prefix = Some(parse_bool(v)?),
        "SyslogFacility" => {
            x.syslog_facility = Some(
                crate::syslog::facility_number(v)
                    .ok_or_else(|| format!("invalid syslog facility {v:?}"))?,
            )
        }
        "IgnoreSIGPIPE" => x.ignore_sigpipe = Some(parse_bool(v)?),
        "NoNewPrivileges" => x.no_new_privileges = parse_bool(v)?,
        "DynamicUser" => x.dynamic_user = parse_bool(v)?,
        "PrivateTmp" => x.private_tmp = parse_bool(v)?,
        "ProtectSystem" => {
            x.sandbox.protect_system = match v.to_ascii_lowercase().as_str() {
                "strict" => ProtectSystem::Strict,
                "full" => ProtectSystem::Full,
                _ if parse_bool(v)? => ProtectSystem::Yes,
                _ => ProtectSystem::No,
            }
        }
        "ProtectHome" => {
            x.sandbox.protect_home = match v.to_ascii_lowercase().as_str() {
                "read-only" => ProtectHome::ReadOnly,
                "tmpfs" => ProtectHome::Tmpfs,
                _ if parse_bool(v)? => ProtectHome::Yes,
                _ => ProtectHome::No,
            }
        }
        "PrivateDevices" => x.sandbox.private_devices = parse_bool(v)?,
        "ProtectKernelTunables" => x.sandbox.protect_kernel_tunables = parse_bool(v)?,
        "ProtectKernelModules" => x.sandbox.protect_kernel_modules = parse_bool(v)?,
        "ProtectControlGroups" => x.sandbox.protect_control_groups = parse_bool(v)?,
        "ReadWritePaths" | "ReadWriteDirectories" => {
            sandbox_paths(&mut x.sandbox.read_write_paths, v)?
        }
        "ReadOnlyPaths" | "ReadOnlyDirectories" => {
            sandbox_paths(&mut x.sandbox.read_only_paths, v)?
        }
        "InaccessiblePaths" | "InaccessibleDirectories" => {
            sandbox_paths(&mut x.sandbox.inaccessible_paths, v)?
        }
        "BindPaths" => sandbox_binds(&mut x.sandbox.bind_paths, v)?,
        "BindReadOnlyPaths" => sandbox_binds(&mut x.sandbox.bind_read_only_paths, v)?,
        "TemporaryFileSystem" => sandbox_binds(&mut x.sandbox.temporary_file_system, v)?,
        "CapabilityBoundingSet" => parse_caps(v, &mut x.capability_bounding_set)?,
        k if k.starts_with("Limit") => {
            let l = parse_rlimit(k, v)?;
            x.limits.retain(|o| o.resource != l.resource);
            x.limits.push(l);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn apply_service(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    if key == "StartLimitIntervalSec" || key == "StartLimitInterval" || key == "StartLimitBurst" {
        return apply_unit(unit, key, v, loc, diags);
    }
    let KindConfig::Service(s) = &mut unit.config else {
        return Ok(());
    };
    if key == "Environment" && !v.is_empty() {
        // systemd ignores each word that is not an assignment, with a warning, and
        // keeps the others (unicorn.service: `Environment=UNICORN_OPTS=-E production`).
        for w in split_words(v)? {
            match env_assignment(&w) {
                Some(a) => s.exec.environment.push(a),
                None => diags.warn(
                    loc.to_string(),
                    format!("invalid environment assignment {w:?}, ignoring"),
                ),
            }
        }
        return Ok(());
    }
    if apply_exec_ctx(&mut s.exec, key, v)? {
        return Ok(());
    }
    match key {
        "Type" => {
            s.service_type = match v {
                "simple" => ServiceType::Simple,
                "exec" => ServiceType::Exec,
                "forking" => ServiceType::Forking,
                "oneshot" => ServiceType::Oneshot,
                "notify" | "notify-reload" => ServiceType::Notify,
                "idle" => ServiceType::Idle,
                // Debian's NetworkManager, polkit, avahi, udisks2… Readiness would be
                // the bus name appearing on D-Bus; without bus-name tracking the
                // service counts as started once it runs, as Type=simple.
                "dbus" => {
                    diags.warn(
                        loc.to_string(),
                        "Type=dbus: b8g-init does not track bus names yet; \
                         treated as Type=simple (ready once started)"
                            .into(),
                    );
                    ServiceType::Simple
                }
                _ => return Err(format!("unknown service type {v:?}")),
            }
        }
        "ExecStart" => push_exec(&mut s.exec_start, v, loc, diags)?,
        "ExecCondition" => push_exec(&mut s.exec_condition, v, loc, diags)?,
        "ExecStartPre" => push_exec(&mut s.exec_start_pre, v, loc, diags)?,
        "ExecStartPost" => push_exec(&mut s.exec_start_post, v, loc, diags)?,
        "ExecStop" => push_exec(&mut s.exec_stop, v, loc, diags)?,
        "ExecStopPost" => push_exec(&mut s.exec_stop_post, v, loc, diags)?,
        "ExecReload" => push_exec(&mut s.exec_reload, v, loc, diags)?,
        "RemainAfterExit" => s.remain_after_exit = parse_bool(v)?,
        // Empty resets; a relative path is below /run, as systemd.service(5) says.
        "PIDFile" if v.is_empty() => s.pid_file = None,
        "PIDFile" if !v.starts_with('/') => s.pid_file = Some(Path::new("/run").join(v)),
        "PIDFile" => s.pid_file = Some(abs(v)?),
        "Restart" => {
            s.restart = match v {
                "no" => RestartPolicy::No,
                "on-success" => RestartPolicy::OnSuccess,
                "on-failure" => RestartPolicy::OnFailure,
                "on-abnormal" => RestartPolicy::OnAbnormal,
                "on-abort" => RestartPolicy::OnAbort,
                "on-watchdog" => RestartPolicy::OnWatchdog,
                "always" => RestartPolicy::Always,
                _ => return Err(format!("unknown restart policy {v:?}")),
            }
        }
        "RestartSec" => s.restart_sec = finite(v)?,
        "RestartMaxDelaySec" => s.restart_max_delay = span(v)?,
        "RestartSteps" => {}
        "TimeoutSec" => {
            s.timeout_start = Timeout::from_span(span(v)?);
            s.timeout_stop = s.timeout_start;
        }
        "TimeoutStartSec" => s.timeout_start = Timeout::from_span(span(v)?),
        "TimeoutStopSec" => s.timeout_stop = Timeout::from_span(span(v)?),
        "SuccessExitStatus" => {
            if v.is_empty() {
                s.success_exit_status.clear();
                s.success_signals.clear();
            }
            for w in v.split_whitespace() {
                match w.parse::<i32>() {
                    Ok(n) if (0..=255).contains(&n) => s.success_exit_status.push(n),
                    _ => match exit_status_name(w) {
                        Some(n) => s.success_exit_status.push(n),
                        None => s.success_signals.push(parse_signal(w)?),
                    },
                }
            }
        }
        "KillMode" => {
            s.kill_mode = match v {
                "control-group" => KillMode::ControlGroup,
                "process" => KillMode::Process,
                "mixed" => KillMode::Mixed,
                "none" => KillMode::None,
                _ => return Err(format!("unknown kill mode {v:?}")),
            }
        }
        "KillSignal" => s.kill_signal = parse_signal(v)?,
        "SendSIGKILL" => s.send_sigkill = parse_bool(v)?,
        "SendSIGHUP" => s.send_sighup = parse_bool(v)?,
        "WatchdogSec" => s.watchdog = span(v)?.filter(|d| !d.is_zero()),
        "NotifyAccess" => {
            s.notify_access = Some(match v {
                "none" => NotifyAccess::None,
                "main" => NotifyAccess::Main,
                "exec" => NotifyAccess::Exec,
                "all" => NotifyAccess::All,
                _ => return Err(format!("unknown NotifyAccess {v:?}")),
            })
        }
        "X-NotificationFd" | "X-B8G-NotificationFd" => {
            let n: i32 = v.parse().map_err(|_| format!("invalid fd {v:?}"))?;
            if !(3..=1023).contains(&n) {
                return Err(format!("notification fd {n} must be between 3 and 1023"));
            }
            s.notification_fd = Some(n);
        }
        "Sockets" => vec_list(&mut s.sockets, v),
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

fn apply_socket(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let KindConfig::Socket(s) = &mut unit.config else {
        return Ok(());
    };
    match key {
        "ListenStream" | "ListenDatagram" | "ListenSequentialPacket" | "ListenFIFO" => {
            if v.is_empty() {
                s.listen.clear();
            } else {
                let kind = match key {
                    "ListenStream" => ListenKind::Stream,
                    "ListenDatagram" => ListenKind::Datagram,
                    "ListenFIFO" => ListenKind::Fifo,
                    _ => ListenKind::SeqPacket,
                };
                s.listen.push(parse_listen(kind, v)?);
            }
        }
        "Accept" => s.accept = parse_bool(v)?,
        "Service" => s.service = Some(v.to_string()),
        "SocketMode" => s.socket_mode = Some(parse_mode(v)?),
        "DirectoryMode" => s.directory_mode = Some(parse_mode(v)?),
        "Backlog" => s.backlog = Some(v.parse().map_err(|_| format!("invalid backlog {v:?}"))?),
        "FileDescriptorName" => s.fd_name = Some(v.to_string()),
        "ReusePort" => s.reuse_port = parse_bool(v)?,
        "MaxConnections" => {
            s.max_connections = Some(v.parse().map_err(|_| format!("invalid number {v:?}"))?)
        }
        "RemoveOnStop" => s.remove_on_stop = parse_bool(v)?,
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

fn apply_mount(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let KindConfig::Mount(m) = &mut unit.config else {
        return Ok(());
    };
    match key {
        "What" => m.what = v.to_string(),
        "Where" => m.where_ = abs(v)?,
        "Type" => m.fs_type = Some(v.to_string()),
        "Options" => m.options = Some(v.to_string()),
        "DirectoryMode" => m.directory_mode = Some(parse_mode(v)?),
        "TimeoutSec" => m.timeout = span(v)?,
        "LazyUnmount" => m.lazy_unmount = parse_bool(v)?,
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

fn apply_timer(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let KindConfig::Timer(t) = &mut unit.config else {
        return Ok(());
    };
    // systemd.timer(5): an empty assignment to any of the On* settings resets the list
    // of timers.
    if key.starts_with("On") && key != "OnFailure" && key != "OnSuccess" && v.trim().is_empty() {
        t.on_boot.clear();
        t.on_active.clear();
        t.on_unit_active.clear();
        t.on_unit_inactive.clear();
        t.on_calendar.clear();
        return Ok(());
    }
    match key {
        "OnBootSec" | "OnStartupSec" => t.on_boot.push(finite(v)?),
        "OnActiveSec" => t.on_active.push(finite(v)?),
        "OnUnitActiveSec" => t.on_unit_active.push(finite(v)?),
        "OnUnitInactiveSec" => t.on_unit_inactive.push(finite(v)?),
        "OnCalendar" => t.on_calendar.push(Calendar::parse(v)?),
        "Unit" => t.unit = Some(v.to_string()),
        "RemainAfterElapse" => t.remain_after_elapse = parse_bool(v)?,
        "Persistent" => t.persistent = parse_bool(v)?,
        "RandomizedDelaySec" => t.randomized_delay = finite(v)?,
        "FixedRandomDelay" => t.fixed_random_delay = parse_bool(v)?,
        // Timers here elapse on time; the accuracy systemd may take to coalesce
        // wakeups is an upper bound, so it is read and needs nothing more.
        "AccuracySec" => {
            finite(v)?;
        }
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

fn apply_path(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let KindConfig::Path(p) = &mut unit.config else {
        return Ok(());
    };
    let watch = match key {
        "PathExists" => Some(PathWatch::Exists),
        "PathExistsGlob" => Some(PathWatch::ExistsGlob),
        "PathChanged" => Some(PathWatch::Changed),
        "PathModified" => Some(PathWatch::Modified),
        "DirectoryNotEmpty" => Some(PathWatch::DirectoryNotEmpty),
        _ => None,
    };
    if let Some(w) = watch {
        // As in systemd, an empty assignment drops every watch set so far.
        if v.is_empty() {
            p.watches.clear();
        } else {
            p.watches.push((w, abs(v)?));
        }
        return Ok(());
    }
    match key {
        "Unit" => p.unit = Some(v.to_string()),
        "MakeDirectory" => p.make_directory = parse_bool(v)?,
        "DirectoryMode" => p.directory_mode = parse_mode(v)?,
        "TriggerLimitIntervalSec" => p.trigger_limit_interval = finite(v)?,
        "TriggerLimitBurst" => {
            p.trigger_limit_burst = v.parse().map_err(|_| format!("invalid number {v:?}"))?
        }
        _ => unknown(key, loc, diags),
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
    fn type_dbus_loads_as_simple_with_a_note() {
        // Regression: Type=dbus made 13 Debian units unloadable (NetworkManager, polkit…).
        let (u, d) = load(
            "polkit.service",
            "[Service]\nType=dbus\nBusName=org.freedesktop.PolicyKit1\nExecStart=/usr/lib/polkit-1/polkitd --no-debug\n",
        );
        assert!(u.load_error.is_none(), "{d:?}");
        assert_eq!(u.service().unwrap().service_type, ServiceType::Simple);
        let notes: Vec<_> = d
            .iter()
            .filter(|d| d.message.contains("Type=dbus"))
            .collect();
        assert_eq!(notes.len(), 1, "{d:?}");
        assert_eq!(notes[0].location, "polkit.service:2");
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
}
