//! The settings of each unit type's own section: [Service], [Socket], [Mount], [Timer],
//! [Path].

use super::*;

pub(super) fn apply_service(
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
                "dbus" => ServiceType::Dbus,
                _ => return Err(format!("unknown service type {v:?}")),
            };
            s.type_given = true;
        }
        "BusName" => {
            s.bus_name = if v.is_empty() {
                None
            } else if is_bus_name(v) {
                Some(v.to_string())
            } else {
                return Err(format!("{v:?} is not a D-Bus well-known name"));
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

pub(super) fn apply_socket(
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
        "ListenStream"
        | "ListenDatagram"
        | "ListenSequentialPacket"
        | "ListenFIFO"
        | "ListenNetlink"
        | "ListenSpecial" => {
            if v.is_empty() {
                s.listen.clear();
            } else {
                let kind = match key {
                    "ListenStream" => ListenKind::Stream,
                    "ListenDatagram" => ListenKind::Datagram,
                    "ListenFIFO" => ListenKind::Fifo,
                    "ListenNetlink" => ListenKind::Netlink,
                    "ListenSpecial" => ListenKind::Special,
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
        "PassCredentials" => s.pass_credentials = parse_bool(v)?,
        "ReceiveBuffer" => s.receive_buffer = Some(buffer_size(v)?),
        "SendBuffer" => s.send_buffer = Some(buffer_size(v)?),
        "MaxConnections" => {
            s.max_connections = Some(v.parse().map_err(|_| format!("invalid number {v:?}"))?)
        }
        "RemoveOnStop" => s.remove_on_stop = parse_bool(v)?,
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

pub(super) fn apply_mount(
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

pub(super) fn apply_swap(
    unit: &mut Unit,
    key: &str,
    v: &str,
    loc: &str,
    diags: &mut Diags,
) -> Result<(), String> {
    let KindConfig::Swap(s) = &mut unit.config else {
        return Ok(());
    };
    match key {
        "What" => s.what = v.to_string(),
        "Priority" => {
            s.priority = if v.is_empty() {
                None
            } else {
                Some(parse_swap_priority(v)?)
            }
        }
        "Options" => s.options = Some(v.to_string()),
        "TimeoutSec" => s.timeout = span(v)?,
        _ => unknown(key, loc, diags),
    }
    Ok(())
}

/// A swap priority as swapon(2) takes it: -1 … 32767.
pub(crate) fn parse_swap_priority(v: &str) -> Result<i32, String> {
    match v.trim().parse::<i32>() {
        Ok(p) if (-1..=32767).contains(&p) => Ok(p),
        _ => Err(format!("invalid swap priority {v:?} (-1 … 32767)")),
    }
}

pub(super) fn apply_timer(
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

pub(super) fn apply_path(
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

/// A well-known D-Bus name (the D-Bus specification): at most 255 bytes, two or more
/// dot-separated elements of `[A-Za-z0-9_-]` not starting with a digit.
pub(crate) fn is_bus_name(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    v.len() <= 255
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// `ReceiveBuffer=`/`SendBuffer=`: a size in bytes, with K, M, G… (base 1024).
fn buffer_size(v: &str) -> Result<u64, String> {
    match crate::cgroup::parse_bytes(v)? {
        crate::cgroup::Limit::Absolute(n) => Ok(n),
        _ => Err(format!("invalid buffer size {v:?}")),
    }
}
