//! Values of single settings: signals, exit statuses, capabilities, resource limits,
//! standard I/O, sandbox paths, listen addresses, environment assignments, conditions.

use super::*;

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
pub(super) fn exit_status_name(w: &str) -> Option<i32> {
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

pub(super) fn parse_caps(v: &str, cur: &mut Option<BTreeSet<u32>>) -> Result<(), String> {
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

pub(super) fn rlimit_resource(key: &str) -> Option<i32> {
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
pub(super) fn rlimit_value(resource: i32, v: &str) -> Result<u64, String> {
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
pub(super) fn parse_size_1024(v: &str) -> Option<u64> {
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

pub(super) fn parse_rlimit(key: &str, v: &str) -> Result<Rlimit, String> {
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

pub(super) fn parse_stdio(v: &str, stderr: bool) -> Result<StdIo, String> {
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
pub(super) fn sandbox_paths(target: &mut Vec<String>, v: &str) -> Result<(), String> {
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
pub(super) fn sandbox_binds(target: &mut Vec<String>, v: &str) -> Result<(), String> {
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

pub(super) fn abs(p: &str) -> Result<PathBuf, String> {
    if p.starts_with('/') {
        Ok(PathBuf::from(p))
    } else {
        Err(format!("path {p:?} is not absolute"))
    }
}

pub(super) fn parse_listen(kind: ListenKind, v: &str) -> Result<Listen, String> {
    if kind == ListenKind::Netlink {
        netlink_address(v)?;
        return Ok(Listen {
            kind,
            address: v.trim().to_string(),
        });
    }
    if matches!(kind, ListenKind::Fifo | ListenKind::Special) && !v.starts_with('/') {
        return Err(format!(
            "{kind:?} listener needs an absolute path, not {v:?}"
        ));
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
pub(super) fn env_assignment(w: &str) -> Option<(String, String)> {
    let (k, val) = w.split_once('=')?;
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| (k.to_string(), val.to_string()))
}

pub(super) fn condition(key: &str) -> Option<ConditionKind> {
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

/// `ListenNetlink=`'s family (systemd's names) and multicast group mask.
pub fn netlink_address(v: &str) -> Result<(i32, u32), String> {
    let mut w = v.split_whitespace();
    let name = w.next().unwrap_or("");
    let family = match name {
        "route" => 0,
        "usersock" => 2,
        "firewall" => 3,
        "sock_diag" | "inet-diag" => 4,
        "nflog" => 5,
        "xfrm" => 6,
        "selinux" => 7,
        "iscsi" => 8,
        "audit" => 9,
        "fib_lookup" => 10,
        "connector" => 11,
        "netfilter" => 12,
        "ip6_fw" => 13,
        "dnrtmsg" => 14,
        "kobject-uevent" => 15,
        "generic" => 16,
        "scsitransport" => 18,
        "ecryptfs" => 19,
        "rdma" => 20,
        "crypto" => 21,
        _ => return Err(format!("unknown netlink family {name:?}")),
    };
    let group = match w.next() {
        None => 0,
        Some(g) => g
            .parse::<u32>()
            .map_err(|_| format!("invalid netlink group {g:?}"))?,
    };
    if w.next().is_some() {
        return Err(format!(
            "ListenNetlink= takes a family and a group, not {v:?}"
        ));
    }
    Ok((family, group))
}
