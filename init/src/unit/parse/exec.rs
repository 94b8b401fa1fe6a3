//! The execution context's settings (systemd.exec(5), systemd.resource-control(5)),
//! shared by services, sockets and mounts.

use super::*;

pub(super) fn set_dir_mode(slot: &mut Option<u32>, v: &str) -> Result<(), String> {
    *slot = Some(parse_mode(v)?);
    Ok(())
}

pub(super) fn apply_exec_ctx(x: &mut ExecContext, key: &str, v: &str) -> Result<bool, String> {
    if apply_cgroup(&mut x.cgroup, key, v)? {
        return Ok(true);
    }
    apply_exec_ctx_rest(x, key, v)
}

/// Resource-control settings (systemd.resource-control(5)), of a service, socket or
/// mount, or of a slice's own `[Slice]` section. False when `key` is none of them.
pub(super) fn apply_cgroup(
    cg: &mut crate::cgroup::CgroupConfig,
    key: &str,
    v: &str,
) -> Result<bool, String> {
    let opt = |v: &str, f: fn(&str) -> Result<crate::cgroup::Limit, String>| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            f(v).map(Some)
        }
    };
    match key {
        "Slice" => {
            // A unit name (it becomes a cgroup directory name: no `/`, no `..`).
            let name_ok = v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
                && !v.starts_with('.');
            if !v.is_empty() && (!v.ends_with(".slice") || !name_ok) {
                return Err(format!("{v:?} is not a slice name"));
            }
            cg.slice = Some(v.to_string()).filter(|s| !s.is_empty());
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
        _ => return Ok(false),
    }
    Ok(true)
}

pub(super) fn apply_exec_ctx_rest(x: &mut ExecContext, key: &str, v: &str) -> Result<bool, String> {
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
