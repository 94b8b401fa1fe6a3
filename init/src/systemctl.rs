//! What `b8gctl` needs to answer as `systemctl` (systemctl(1)): unit name mangling,
//! signal names, `show`'s properties and `Key=Value` output, `list-unit-files` and
//! `list-timers` rows, SysV scripts' enablement. Pure functions over the control
//! protocol's JSON; the binary does the I/O.

use std::path::Path;

use serde_json::Value;

use crate::unit::name;

/// Every unit type systemd knows, also those b8g-init does not run (so that
/// `foo.slice` is not mangled into `foo.slice.service`).
const SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// systemctl's name mangling: `nginx` → `nginx.service`, `/home` → `home.mount`,
/// `/dev/sda` → `dev-sda.device`; names with a unit suffix or a glob stay.
pub fn mangle(arg: &str) -> String {
    if arg.contains(['*', '?', '[']) {
        return arg.to_string();
    }
    if let Some((_, suffix)) = arg.rsplit_once('.') {
        if SUFFIXES.contains(&suffix) {
            return arg.to_string();
        }
    }
    if arg.starts_with("/dev/") {
        return format!("{}.device", name::escape_path(arg));
    }
    if arg.starts_with('/') {
        return format!("{}.mount", name::escape_path(arg));
    }
    format!("{arg}.service")
}

/// `-s TERM`, `-s SIGTERM`, `-s 15`: named as in unit files.
pub fn parse_signal(s: &str) -> Option<i32> {
    crate::unit::parse::signal_number(s)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// `systemctl show UNIT` properties from b8g-init's status of the unit and, when the
/// unit has a file, its file state (`is-enabled`). In systemd's order.
pub fn unit_properties(u: &Value, file_state: Option<&str>) -> Vec<(&'static str, String)> {
    let id = s(u, "name");
    let sources: Vec<&str> = u["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let pid = |k: &str| u[k].as_i64().unwrap_or(0).to_string();
    let mut v: Vec<(&'static str, String)> = Vec::new();
    if let Some(t) = u["service_type"].as_str() {
        v.push(("Type", t.to_string()));
        v.push(("MainPID", pid("main_pid")));
        v.push(("ControlPID", pid("control_pid")));
        v.push(("StatusText", s(u, "status").to_string()));
        v.push((
            "Result",
            u["result"].as_str().unwrap_or("success").to_string(),
        ));
        v.push(("NRestarts", u["restarts"].as_u64().unwrap_or(0).to_string()));
    }
    let names: Vec<&str> = u["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    v.push(("Id", id.to_string()));
    v.push((
        "Names",
        if names.is_empty() {
            id.to_string()
        } else {
            names.join(" ")
        },
    ));
    v.push((
        "Description",
        u["description"].as_str().unwrap_or(id).to_string(),
    ));
    v.push(("LoadState", s(u, "load_state").to_string()));
    v.push(("ActiveState", s(u, "active").to_string()));
    v.push(("SubState", s(u, "sub").to_string()));
    v.push((
        "FragmentPath",
        sources.first().copied().unwrap_or("").to_string(),
    ));
    v.push((
        "DropInPaths",
        sources.get(1..).unwrap_or_default().join(" "),
    ));
    v.push(("UnitFileState", file_state.unwrap_or("").to_string()));
    v.push((
        "Job",
        u["job"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| u["job"].as_u64().map(|j| j.to_string()).unwrap_or_default()),
    ));
    v.push(("NeedDaemonReload", "no".into()));
    v
}

/// `systemctl show` without a unit: the manager's properties.
pub fn manager_properties(status: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("Version", format!("b8g-init {}", env!("CARGO_PKG_VERSION"))),
        ("Features", String::new()),
        ("SystemState", s(status, "state").to_string()),
        ("NNames", status["units"].as_u64().unwrap_or(0).to_string()),
        (
            "NFailedUnits",
            status["failed"].as_array().map_or(0, Vec::len).to_string(),
        ),
        ("NJobs", status["jobs"].as_u64().unwrap_or(0).to_string()),
    ]
}

/// `Key=Value` lines (only the values with `--value`), restricted to `filter` when it
/// is not empty. Unknown names print nothing, as in systemctl.
pub fn render_show(props: &[(&str, String)], filter: &[String], value_only: bool) -> String {
    let mut out = String::new();
    for (k, val) in props {
        if !filter.is_empty() && !filter.iter().any(|f| f == k) {
            continue;
        }
        // Without -p, systemctl leaves out empty values (show --all prints them).
        if filter.is_empty() && val.is_empty() {
            continue;
        }
        if value_only {
            out.push_str(val);
        } else {
            out.push_str(k);
            out.push('=');
            out.push_str(val);
        }
        out.push('\n');
    }
    out
}

/// fnmatch(3) without flags: `*`, `?` and `[...]` classes (with `!`/`^` and ranges).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| rec(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && rec(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let Some(end) = p.iter().skip(2).position(|&x| x == ']').map(|i| i + 2) else {
                    return *c == '[' && rec(&p[1..], &n[1..]);
                };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('!' | '^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && rec(&p[end + 1..], &n[1..])
            }
            Some(x) => n.first() == Some(x) && rec(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    rec(&p, &n)
}

/// A wall-clock time as systemctl prints it (`Sat 2026-12-05 10:40:00 UTC`) in `tz`.
pub fn format_timestamp(us: u64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_microsecond(us as i64) {
        Ok(t) => jiff::ZonedDateTime::new(t, tz.clone())
            .strftime("%a %Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => "-".into(),
    }
}

/// A span as systemctl's list-timers prints it: the two largest units (`4h 24min`,
/// `2min 21s`, `1 day 2h`).
pub fn format_span(us: u64) -> String {
    let mut secs = us / 1_000_000;
    if secs == 0 {
        return format!("{}ms", us / 1000);
    }
    let units: [(u64, &str); 6] = [
        (31_557_600, "y"),
        (2_629_800, "month"),
        (86_400, " day"),
        (3600, "h"),
        (60, "min"),
        (1, "s"),
    ];
    let mut parts = Vec::new();
    for (size, unit) in units {
        if secs >= size && parts.len() < 2 {
            let n = secs / size;
            secs %= size;
            let plural = if unit == " day" && n > 1 { "s" } else { "" };
            parts.push(format!("{n}{unit}{plural}"));
        } else if !parts.is_empty() {
            break;
        }
    }
    parts.join(" ")
}

/// Whether an LSB script without a unit file is enabled: an `S` link in `rc2.d`
/// to `rc5.d` (what `systemd-sysv-install is-enabled` checks). None when there is
/// no such script.
pub fn sysv_enabled(etc: &Path, unit: &str) -> Option<bool> {
    let script = unit.strip_suffix(".service")?;
    if !etc.join("init.d").join(script).is_file() {
        return None;
    }
    Some((2..=5).any(|l| {
        std::fs::read_dir(etc.join(format!("rc{l}.d"))).is_ok_and(|rd| {
            rd.filter_map(Result::ok).any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with('S') && n.get(3..) == Some(script)
            })
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_mangled_like_systemctl() {
        assert_eq!(mangle("nginx"), "nginx.service");
        assert_eq!(mangle("nginx.service"), "nginx.service");
        assert_eq!(mangle("user.slice"), "user.slice");
        assert_eq!(mangle("getty@tty1"), "getty@tty1.service");
        assert_eq!(mangle("/home/x"), "home-x.mount");
        assert_eq!(mangle("/dev/sda1"), "dev-sda1.device");
        assert_eq!(mangle("ssh*"), "ssh*");
        assert_eq!(mangle("php8.2-fpm"), "php8.2-fpm.service");
    }

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("HUP"), Some(libc::SIGHUP));
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn show_prints_properties_and_values() {
        let u = json!({
            "name": "a.service", "description": null, "load_state": "loaded",
            "active": "active", "sub": "running", "result": null, "main_pid": 42,
            "status": null, "restarts": 0, "job": null, "names": ["a.service", "b.service"],
            "sources": ["/etc/systemd/system/a.service", "/etc/systemd/system/a.service.d/x.conf"],
            "service_type": "simple", "control_pid": null,
        });
        let p = unit_properties(&u, Some("enabled"));
        assert_eq!(render_show(&p, &["ActiveState".into()], true), "active\n");
        assert_eq!(
            render_show(
                &p,
                &["MainPID".into(), "LoadState".into(), "Nope".into()],
                false
            ),
            "MainPID=42\nLoadState=loaded\n"
        );
        let all = render_show(&p, &[], false);
        assert!(all.contains("Description=a.service\n"), "{all}");
        assert!(all.contains("Names=a.service b.service\n"), "{all}");
        assert!(all.contains("DropInPaths=/etc/systemd/system/a.service.d/x.conf\n"));
        assert!(all.contains("UnitFileState=enabled\n"));
        assert!(
            !all.contains("StatusText="),
            "empty values are left out: {all}"
        );
        // An empty value still prints with -p.
        assert_eq!(
            render_show(&p, &["StatusText".into()], false),
            "StatusText=\n"
        );
    }

    #[test]
    fn globs_times_and_spans() {
        assert!(glob_match("ssh*.service", "ssh.service"));
        assert!(glob_match("getty@tty[1-3].service", "getty@tty2.service"));
        assert!(!glob_match("getty@tty[!1-3].service", "getty@tty2.service"));
        assert!(!glob_match("*.socket", "a.service"));
        assert_eq!(
            format_timestamp(0, &jiff::tz::TimeZone::UTC),
            "Thu 1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            format_timestamp(1_764_930_000 * 1_000_000, &jiff::tz::TimeZone::UTC),
            "Fri 2025-12-05 10:20:00 UTC"
        );
        assert_eq!(format_span(141 * 1_000_000), "2min 21s");
        assert_eq!(
            format_span((4 * 3600 + 24 * 60 + 3) * 1_000_000),
            "4h 24min"
        );
        assert_eq!(format_span(26 * 3600 * 1_000_000), "1 day 2h");
    }

    #[test]
    fn sysv_scripts_are_enabled_by_their_s_links() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("init.d")).unwrap();
        std::fs::create_dir_all(t.path().join("rc2.d")).unwrap();
        std::fs::write(t.path().join("init.d/old"), "#!/bin/sh\n").unwrap();
        std::fs::write(t.path().join("init.d/off"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("../init.d/old", t.path().join("rc2.d/S01old")).unwrap();
        std::os::unix::fs::symlink("../init.d/off", t.path().join("rc2.d/K01off")).unwrap();
        assert_eq!(sysv_enabled(t.path(), "old.service"), Some(true));
        assert_eq!(sysv_enabled(t.path(), "off.service"), Some(false));
        assert_eq!(sysv_enabled(t.path(), "none.service"), None);
    }
}
