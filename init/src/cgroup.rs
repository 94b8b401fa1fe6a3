//! Resource control on cgroup v2 (systemd.resource-control(5)): the settings a unit
//! may carry, where its cgroup lies (`Slice=`, nested by dashes as systemd nests
//! slices), and the cgroup files they become.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A memory or task limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Absolute(u64),
    /// Of the machine's memory (or task limit), in hundredths of a per cent.
    Percent(u32),
    Infinity,
}

/// The resource-control settings of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupConfig {
    /// `Slice=`; services default to `system.slice`.
    pub slice: Option<String>,
    pub memory_max: Option<Limit>,
    pub memory_high: Option<Limit>,
    pub memory_low: Option<Limit>,
    pub memory_min: Option<Limit>,
    pub memory_swap_max: Option<Limit>,
    pub tasks_max: Option<Limit>,
    /// `CPUQuota=` in hundredths of a per cent of one CPU.
    pub cpu_quota: Option<u32>,
    pub cpu_quota_period: Option<Duration>,
    pub cpu_weight: Option<u64>,
    pub io_weight: Option<u64>,
    /// `Delegate=`: the service manages cgroups below its own.
    pub delegate: bool,
}

fn percent(v: &str) -> Result<u32, String> {
    let n = v.trim_end_matches('%').trim();
    let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(format!("invalid percentage {v:?}"));
    }
    let w: u32 = whole
        .parse()
        .map_err(|_| format!("invalid percentage {v:?}"))?;
    let f: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
    w.checked_mul(100)
        .and_then(|w| w.checked_add(f))
        .ok_or_else(|| format!("percentage {v:?} too large"))
}

/// `MemoryMax=`-style values: bytes with an optional K, M, G, T, P, E suffix (powers
/// of 1024), a percentage, or `infinity`.
pub fn parse_bytes(v: &str) -> Result<Limit, String> {
    let v = v.trim();
    if v == "infinity" {
        return Ok(Limit::Infinity);
    }
    if v.ends_with('%') {
        let p = percent(v)?;
        return if p <= 10_000 {
            Ok(Limit::Percent(p))
        } else {
            Err(format!("{v:?} is more than 100%"))
        };
    }
    let (num, mult) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return Err(format!("invalid size {v:?}")),
            };
            (&v[..i], 1u64 << shift)
        }
        _ => (v, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("invalid size {v:?}"))?;
    let bytes = n * mult as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("size {v:?} too large"));
    }
    Ok(Limit::Absolute(bytes as u64))
}

/// `TasksMax=`: a count, a percentage of the system's task limit, or `infinity`.
pub fn parse_tasks(v: &str) -> Result<Limit, String> {
    let v = v.trim();
    if v == "infinity" {
        return Ok(Limit::Infinity);
    }
    if v.ends_with('%') {
        return Ok(Limit::Percent(percent(v)?.min(10_000)));
    }
    v.parse()
        .map(Limit::Absolute)
        .map_err(|_| format!("invalid task count {v:?}"))
}

/// `CPUQuota=`: a percentage of one CPU, above 100% for more than one.
pub fn parse_cpu_quota(v: &str) -> Result<Option<u32>, String> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    if !v.trim().ends_with('%') {
        return Err(format!("CPUQuota= takes a percentage, not {v:?}"));
    }
    match percent(v)? {
        0 => Err("CPUQuota= of 0% would stop the unit".into()),
        p => Ok(Some(p)),
    }
}

/// `CPUWeight=`/`IOWeight=`: 1–10000 (`idle` is CPUWeight's 0).
pub fn parse_weight(v: &str, idle_ok: bool) -> Result<Option<u64>, String> {
    match v.trim() {
        "" => Ok(None),
        "idle" if idle_ok => Ok(Some(0)),
        w => match w.parse::<u64>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(Some(n)),
            _ => Err(format!("weight {v:?} is not in 1..10000")),
        },
    }
}

/// A slice's cgroup directories from the top: `foo-bar.slice` lies in `foo.slice`;
/// `-.slice` is the root.
pub fn slice_dirs(slice: &str) -> Vec<String> {
    let Some(base) = slice.strip_suffix(".slice") else {
        return vec![slice.to_string()];
    };
    if base == "-" || base.is_empty() {
        return Vec::new();
    }
    let parts: Vec<&str> = base.split('-').collect();
    (1..=parts.len())
        .map(|i| format!("{}.slice", parts[..i].join("-")))
        .collect()
}

/// The cgroup directory of unit `name` below `root`.
pub fn unit_dir(root: &Path, name: &str, cfg: &CgroupConfig) -> PathBuf {
    let mut p = root.to_path_buf();
    for d in slice_dirs(cfg.slice.as_deref().unwrap_or("system.slice")) {
        p.push(d);
    }
    p.push(name.replace('/', "_"));
    p
}

fn limit_value(l: Limit, total: u64) -> String {
    match l {
        Limit::Infinity => "max".into(),
        Limit::Absolute(n) => n.to_string(),
        Limit::Percent(p) => (u128::from(total) * u128::from(p) / 10_000).to_string(),
    }
}

/// The files to write into the unit's cgroup, and the values. `memory_total` is the
/// machine's memory in bytes, `tasks_total` its task limit.
pub fn settings(
    cfg: &CgroupConfig,
    memory_total: u64,
    tasks_total: u64,
) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for (file, limit) in [
        ("memory.max", cfg.memory_max),
        ("memory.high", cfg.memory_high),
        ("memory.low", cfg.memory_low),
        ("memory.min", cfg.memory_min),
        ("memory.swap.max", cfg.memory_swap_max),
    ] {
        if let Some(l) = limit {
            v.push((file, limit_value(l, memory_total)));
        }
    }
    if let Some(l) = cfg.tasks_max {
        v.push(("pids.max", limit_value(l, tasks_total)));
    }
    if let Some(q) = cfg.cpu_quota {
        let period = cfg
            .cpu_quota_period
            .unwrap_or(Duration::from_millis(100))
            .as_micros()
            .clamp(1_000, 1_000_000) as u64;
        let quota = (u128::from(period) * u128::from(q) / 10_000).max(1_000);
        v.push(("cpu.max", format!("{quota} {period}")));
    }
    if let Some(w) = cfg.cpu_weight {
        // `idle` is cpu.idle, not a weight.
        if w == 0 {
            v.push(("cpu.idle", "1".into()));
        } else {
            v.push(("cpu.weight", w.to_string()));
        }
    }
    if let Some(w) = cfg.io_weight {
        v.push(("io.weight", format!("default {w}")));
    }
    v
}

/// The controllers a unit's settings need.
pub fn controllers(cfg: &CgroupConfig) -> Vec<&'static str> {
    let mut c = Vec::new();
    if cfg.memory_max.is_some()
        || cfg.memory_high.is_some()
        || cfg.memory_low.is_some()
        || cfg.memory_min.is_some()
        || cfg.memory_swap_max.is_some()
    {
        c.push("memory");
    }
    if cfg.tasks_max.is_some() {
        c.push("pids");
    }
    if cfg.cpu_quota.is_some() || cfg.cpu_weight.is_some() {
        c.push("cpu");
    }
    if cfg.io_weight.is_some() {
        c.push("io");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_percentages_and_infinity() {
        assert_eq!(parse_bytes("512M"), Ok(Limit::Absolute(512 << 20)));
        assert_eq!(parse_bytes("1.5G"), Ok(Limit::Absolute(3 << 29)));
        assert_eq!(parse_bytes("4096"), Ok(Limit::Absolute(4096)));
        assert_eq!(parse_bytes("80%"), Ok(Limit::Percent(8000)));
        assert_eq!(parse_bytes("12.5%"), Ok(Limit::Percent(1250)));
        assert_eq!(parse_bytes("infinity"), Ok(Limit::Infinity));
        for bad in ["", "5X", "-1M", "101%", "%", "1e400"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_tasks("99%"), Ok(Limit::Percent(9900)));
        assert_eq!(parse_tasks("4915"), Ok(Limit::Absolute(4915)));
        assert_eq!(parse_cpu_quota("50%"), Ok(Some(5000)));
        assert_eq!(parse_cpu_quota("250%"), Ok(Some(25000)));
        assert!(parse_cpu_quota("50").is_err());
        assert_eq!(parse_weight("idle", true), Ok(Some(0)));
        assert!(parse_weight("0", true).is_err() && parse_weight("idle", false).is_err());
    }

    #[test]
    fn slices_nest_by_dashes() {
        assert_eq!(slice_dirs("system.slice"), ["system.slice"]);
        assert_eq!(
            slice_dirs("foo-bar-baz.slice"),
            ["foo.slice", "foo-bar.slice", "foo-bar-baz.slice"]
        );
        assert!(slice_dirs("-.slice").is_empty());
        let cfg = CgroupConfig {
            slice: Some("web-front.slice".into()),
            ..Default::default()
        };
        assert_eq!(
            unit_dir(Path::new("/sys/fs/cgroup/b8g"), "nginx@a.service", &cfg),
            Path::new("/sys/fs/cgroup/b8g/web.slice/web-front.slice/nginx@a.service")
        );
        assert_eq!(
            unit_dir(Path::new("/cg"), "x.service", &CgroupConfig::default()),
            Path::new("/cg/system.slice/x.service")
        );
    }

    #[test]
    fn settings_become_cgroup_files_as_systemd_writes_them() {
        let cfg = CgroupConfig {
            memory_max: Some(Limit::Percent(5000)),
            memory_high: Some(Limit::Infinity),
            tasks_max: Some(Limit::Absolute(16)),
            cpu_quota: Some(5000),
            cpu_weight: Some(200),
            io_weight: Some(300),
            ..Default::default()
        };
        assert_eq!(
            settings(&cfg, 2 << 30, 4_194_304),
            [
                ("memory.max", (1u64 << 30).to_string()),
                ("memory.high", "max".to_string()),
                ("pids.max", "16".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("cpu.weight", "200".to_string()),
                ("io.weight", "default 300".to_string()),
            ]
        );
        assert_eq!(controllers(&cfg), ["memory", "pids", "cpu", "io"]);
        let two_cpus = CgroupConfig {
            cpu_quota: Some(20_000),
            cpu_quota_period: Some(Duration::from_millis(10)),
            ..Default::default()
        };
        assert_eq!(
            settings(&two_cpus, 0, 0),
            [("cpu.max", "20000 10000".to_string())]
        );
    }
}
