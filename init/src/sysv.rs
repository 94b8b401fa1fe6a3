//! SysV compatibility: `/etc/inittab` entries and `/etc/init.d` scripts (LSB headers,
//! `rcN.d/S##name` links) become ordinary units for the one job engine. Runlevels map
//! to `runlevelN.target`; `telinit N` isolates that target. Nothing here runs anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::unit::{
    Diagnostic, ExecCommand, KillMode, KindConfig, RestartPolicy, ServiceConfig, ServiceType,
    Timeout, Unit,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InittabEntry {
    pub id: String,
    pub runlevels: String,
    pub action: String,
    pub process: String,
    pub line: usize,
}

const ACTIONS: &[&str] = &[
    "sysinit",
    "boot",
    "bootwait",
    "wait",
    "once",
    "respawn",
    "askfirst",
    "ctrlaltdel",
    "powerfail",
    "powerwait",
    "powerokwait",
    "powerfailnow",
    "shutdown",
    "restart",
    "initdefault",
    "off",
    "ondemand",
    "kbrequest",
];

/// Parses inittab text; errors name `file:line`.
pub fn parse_inittab(file: &str, text: &str) -> (Vec<InittabEntry>, Vec<Diagnostic>) {
    let mut entries = Vec::new();
    let mut diags = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let loc = format!("{file}:{}", i + 1);
        let parts: Vec<&str> = line.splitn(4, ':').collect();
        if parts.len() != 4 {
            diags.push(Diagnostic {
                location: loc,
                error: true,
                message: "expected id:runlevels:action:process".into(),
            });
            continue;
        }
        let (id, rl, action, process) = (parts[0], parts[1], parts[2], parts[3]);
        if !ACTIONS.contains(&action) {
            diags.push(Diagnostic {
                location: loc,
                error: true,
                message: format!("unknown action {action:?}"),
            });
            continue;
        }
        if let Some(c) = rl.chars().find(|c| !"0123456sS".contains(*c)) {
            diags.push(Diagnostic {
                location: loc,
                error: true,
                message: format!("invalid runlevel {c:?}"),
            });
            continue;
        }
        if action != "initdefault" && process.trim().is_empty() {
            diags.push(Diagnostic {
                location: loc,
                error: true,
                message: "empty process field".into(),
            });
            continue;
        }
        if !["initdefault", "off"].contains(&action)
            && !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            diags.push(Diagnostic {
                location: loc,
                error: true,
                message: format!("invalid id {id:?}"),
            });
            continue;
        }
        entries.push(InittabEntry {
            id: id.to_string(),
            runlevels: rl.to_string(),
            action: action.to_string(),
            process: process.to_string(),
            line: i + 1,
        });
    }
    (entries, diags)
}

/// LSB `### BEGIN INIT INFO` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsbHeader {
    pub provides: Vec<String>,
    pub required_start: Vec<String>,
    pub should_start: Vec<String>,
    pub default_start: Vec<String>,
    pub description: Option<String>,
}

pub fn parse_lsb(file: &str, text: &str) -> (Option<LsbHeader>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut h = LsbHeader::default();
    let mut inside = false;
    let mut found = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t == "### BEGIN INIT INFO" {
            inside = true;
            found = true;
            continue;
        }
        if t == "### END INIT INFO" {
            if !inside {
                diags.push(Diagnostic {
                    location: format!("{file}:{}", i + 1),
                    error: true,
                    message: "END INIT INFO without BEGIN".into(),
                });
            }
            return (Some(h), diags);
        }
        if !inside {
            continue;
        }
        let Some(rest) = t.strip_prefix('#') else {
            diags.push(Diagnostic {
                location: format!("{file}:{}", i + 1),
                error: true,
                message: "non-comment line inside the LSB header".into(),
            });
            return (None, diags);
        };
        let Some((k, v)) = rest.split_once(':') else {
            continue;
        };
        let words = || v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        match k.trim() {
            "Provides" => h.provides = words(),
            "Required-Start" => h.required_start = words(),
            "Should-Start" => h.should_start = words(),
            "Default-Start" => h.default_start = words(),
            "Short-Description" => h.description = Some(v.trim().to_string()),
            _ => {}
        }
    }
    if found {
        diags.push(Diagnostic {
            location: file.to_string(),
            error: true,
            message: "LSB header is not terminated by ### END INIT INFO".into(),
        });
    }
    (None, diags)
}

/// Things inittab asks for that are not units.
#[derive(Debug, Clone, Default)]
pub struct SysvExtras {
    pub initdefault: Option<char>,
    pub ctrlaltdel: Vec<String>,
    pub powerfail: Vec<String>,
    pub shutdown: Vec<String>,
}

fn runlevel_targets(rl: &str, default: char) -> Vec<String> {
    let levels: Vec<char> = if rl.is_empty() {
        vec![default]
    } else {
        rl.chars().collect()
    };
    levels
        .into_iter()
        .map(|c| match c {
            's' | 'S' => "sysinit.target".to_string(),
            c => format!("runlevel{c}.target"),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `/bin/sh -c CMD`, unexpanded: inittab lines are shell, not unit syntax.
fn sh(cmd: &str, loc: &str) -> ExecCommand {
    ExecCommand {
        argv: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        ignore_failure: false,
        custom_argv0: false,
        privileged: false,
        expand: false,
        location: loc.into(),
    }
}

fn service(name: &str, cfg: ServiceConfig, source: &Path) -> Unit {
    let mut u = Unit::empty(name);
    u.config = KindConfig::Service(Box::new(cfg));
    u.sources = vec![source.to_path_buf()];
    u
}

/// Generates units from `<etc>/inittab`, `<etc>/init.d` and `<etc>/rcN.d`.
pub fn generate(etc: &Path) -> (Vec<Unit>, SysvExtras, Vec<Diagnostic>) {
    let mut units = Vec::new();
    let mut extras = SysvExtras::default();
    let mut diags = Vec::new();
    let inittab = etc.join("inittab");
    let mut have_runlevels = false;
    if let Ok(text) = std::fs::read_to_string(&inittab) {
        let file = inittab.display().to_string();
        let (entries, d) = parse_inittab(&file, &text);
        diags.extend(d);
        extras.initdefault = entries
            .iter()
            .find(|e| e.action == "initdefault")
            .and_then(|e| e.runlevels.chars().next())
            .or(Some('3'));
        let default = extras.initdefault.unwrap_or('3');
        have_runlevels = true;
        for e in &entries {
            let loc = format!("{file}:{}", e.line);
            let name = format!("inittab-{}.service", e.id);
            let mut cfg = ServiceConfig {
                exec_start: vec![sh(&e.process, &loc)],
                kill_mode: KillMode::ControlGroup,
                ..Default::default()
            };
            let mut early = false;
            match e.action.as_str() {
                "sysinit" | "bootwait" => {
                    cfg.service_type = ServiceType::Oneshot;
                    cfg.remain_after_exit = true;
                    early = true;
                }
                "boot" => {
                    cfg.service_type = ServiceType::Simple;
                    early = true;
                }
                "wait" => {
                    cfg.service_type = ServiceType::Oneshot;
                    cfg.remain_after_exit = true;
                }
                "once" => cfg.service_type = ServiceType::Simple,
                "respawn" | "askfirst" => {
                    cfg.service_type = ServiceType::Simple;
                    cfg.restart = RestartPolicy::Always;
                    cfg.restart_sec = Duration::from_millis(100);
                    cfg.restart_max_delay = Some(Duration::from_secs(5));
                }
                "ctrlaltdel" => {
                    extras.ctrlaltdel.push(e.process.clone());
                    continue;
                }
                "powerfail" | "powerwait" | "powerfailnow" => {
                    extras.powerfail.push(e.process.clone());
                    continue;
                }
                "shutdown" | "restart" => {
                    extras.shutdown.push(e.process.clone());
                    continue;
                }
                _ => continue,
            }
            let mut u = service(&name, cfg, &inittab);
            u.description = Some(format!("inittab entry {} ({})", e.id, e.action));
            if early {
                u.default_dependencies = false;
                u.deps.before.insert("sysinit.target".into());
                u.install.wanted_by = vec!["sysinit.target".into()];
            } else {
                // SysV respawns without a start limit worth speaking of; allow 10 in 2 minutes like sysvinit.
                u.start_limit_burst = 10;
                u.start_limit_interval = Duration::from_secs(120);
                u.install.wanted_by = runlevel_targets(&e.runlevels, default);
            }
            units.push(u);
        }
    }
    // init.d scripts.
    let initd = etc.join("init.d");
    let mut scripts: BTreeMap<String, (PathBuf, Option<LsbHeader>)> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(&initd) {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let fname = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if fname.starts_with('.')
                || fname == "README"
                || fname.ends_with(".dpkg-old")
                || !p.is_file()
            {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
            let (h, d) = parse_lsb(&p.display().to_string(), &text);
            diags.extend(d);
            scripts.insert(
                fname.strip_suffix(".sh").unwrap_or(&fname).to_string(),
                (p, h),
            );
        }
    }
    if scripts.is_empty() {
        if have_runlevels {
            units.extend(runlevel_units(extras.initdefault));
        }
        return (units, extras, diags);
    }
    let provides: BTreeMap<String, String> = scripts
        .iter()
        .flat_map(|(n, (_, h))| {
            h.iter()
                .flat_map(|h| h.provides.clone())
                .map(move |p| (p, format!("{n}.service")))
        })
        .collect();
    // rcN.d links: runlevel membership and, without headers, order by priority.
    let mut enabled: BTreeMap<String, BTreeSet<char>> = BTreeMap::new();
    let mut prio_after: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut any_rc = false;
    for rl in "0123456S".chars() {
        let dir = etc.join(format!("rc{rl}.d"));
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        any_rc = true;
        let mut links: Vec<String> = rd
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with('S'))
            .collect();
        links.sort();
        let mut prev: Vec<(u32, String)> = Vec::new();
        for l in links {
            let prio: u32 = l.get(1..3).and_then(|p| p.parse().ok()).unwrap_or(99);
            let name = l.get(3..).unwrap_or("").to_string();
            let name = name.strip_suffix(".sh").unwrap_or(&name).to_string();
            if !scripts.contains_key(&name) {
                continue;
            }
            enabled.entry(name.clone()).or_default().insert(rl);
            for (p, n) in &prev {
                if *p < prio {
                    prio_after
                        .entry(name.clone())
                        .or_default()
                        .insert(format!("{n}.service"));
                }
            }
            prev.push((prio, name));
        }
    }
    for (name, (path, header)) in &scripts {
        let levels: BTreeSet<char> = if any_rc {
            enabled.get(name).cloned().unwrap_or_default()
        } else {
            header
                .iter()
                .flat_map(|h| h.default_start.iter().flat_map(|s| s.chars()))
                .collect()
        };
        if levels.is_empty() {
            continue;
        }
        let loc = path.display().to_string();
        let script = path.display().to_string();
        let mut cfg = ServiceConfig {
            service_type: ServiceType::Forking,
            remain_after_exit: true,
            kill_mode: KillMode::Process,
            ..Default::default()
        };
        cfg.timeout_start = Timeout::After(Duration::from_secs(300));
        cfg.timeout_stop = Timeout::After(Duration::from_secs(300));
        let cmd = |verb: &str| ExecCommand {
            argv: vec![script.clone(), verb.into()],
            ignore_failure: false,
            custom_argv0: false,
            privileged: false,
            expand: true,
            location: loc.clone(),
        };
        cfg.exec_start = vec![cmd("start")];
        cfg.exec_stop = vec![cmd("stop")];
        cfg.exec_reload = vec![cmd("reload")];
        let mut u = service(&format!("{name}.service"), cfg, path);
        u.description = header
            .as_ref()
            .and_then(|h| h.description.clone())
            .or(Some(format!("LSB: {name}")));
        if let Some(h) = header {
            for dep in h.required_start.iter().chain(&h.should_start) {
                let target = match dep.as_str() {
                    "$local_fs" => Some("local-fs.target".to_string()),
                    "$remote_fs" => Some("remote-fs.target".to_string()),
                    "$network" => Some("network.target".to_string()),
                    "$named" => Some("nss-lookup.target".to_string()),
                    "$syslog" => Some("syslog.target".to_string()),
                    "$time" => Some("time-sync.target".to_string()),
                    d if d.starts_with('$') => None,
                    d => provides
                        .get(d)
                        .cloned()
                        .or_else(|| scripts.contains_key(d).then(|| format!("{d}.service"))),
                };
                if let Some(t) = target {
                    if t != u.name {
                        u.deps.wants.insert(t.clone());
                        u.deps.after.insert(t);
                    }
                }
            }
        } else if let Some(a) = prio_after.get(name) {
            u.deps.after.extend(a.iter().cloned());
        }
        // An rcS script is part of early boot: without the default dependencies (which
        // order a service after basic.target, itself after sysinit.target: a cycle),
        // before sysinit.target, as systemd's sysv generator placed them.
        if levels.contains(&'S') {
            u.default_dependencies = false;
            u.deps.before.insert("sysinit.target".into());
            u.deps.conflicts.insert("shutdown.target".into());
            u.deps.before.insert("shutdown.target".into());
        }
        u.install.wanted_by = levels
            .iter()
            .map(|c| {
                if *c == 'S' {
                    "sysinit.target".into()
                } else {
                    format!("runlevel{c}.target")
                }
            })
            .collect();
        units.push(u);
    }
    units.extend(runlevel_units(extras.initdefault.or(Some('3'))));
    (units, extras, diags)
}

/// `runlevelN.target` units and, when inittab names a default runlevel, a
/// `default.target` that reaches it (a real default.target file overrides this).
fn runlevel_units(initdefault: Option<char>) -> Vec<Unit> {
    let mut v = Vec::new();
    for n in 0..=6 {
        let name = format!("runlevel{n}.target");
        let mut u = Unit::empty(&name);
        u.description = Some(format!("SysV runlevel {n}"));
        let base = match n {
            1 => Some("rescue.target"),
            2..=5 => Some("multi-user.target"),
            _ => None,
        };
        if let Some(b) = base {
            u.deps.requires.insert(b.into());
            u.deps.after.insert(b.into());
        }
        if n == 0 || n == 6 {
            u.default_dependencies = false;
        }
        v.push(u);
    }
    if let Some(d) = initdefault {
        let mut u = Unit::empty("default.target");
        u.description = Some(format!("default runlevel {d} from inittab"));
        let t = format!("runlevel{d}.target");
        u.deps.requires.insert(t.clone());
        u.deps.after.insert(t);
        v.push(u);
    }
    v
}

/// The target `telinit N` isolates.
pub fn runlevel_target(level: &str) -> Option<&'static str> {
    Some(match level {
        "0" => "poweroff.target",
        "1" | "s" | "S" => "rescue.target",
        "2" => "runlevel2.target",
        "3" => "runlevel3.target",
        "4" => "runlevel4.target",
        "5" => "runlevel5.target",
        "6" => "reboot.target",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn inittab_parsing() {
        let (e, d) = parse_inittab("inittab", "id:3:initdefault:\nsi::sysinit:/etc/rc.sysinit\n1:2345:respawn:/sbin/getty tty1\nbad line\nx:9:once:/bin/x\nca::ctrlaltdel:/sbin/reboot\n");
        assert_eq!(e.len(), 4);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].location, "inittab:4");
        assert_eq!(d[1].location, "inittab:5");
    }

    #[test]
    fn generates_units_with_lsb_ordering() {
        let t = tempfile::tempdir().unwrap();
        let etc = t.path();
        fs::create_dir_all(etc.join("init.d")).unwrap();
        fs::write(
            etc.join("inittab"),
            "id:3:initdefault:\nr1:345:respawn:/bin/sleep 100\nca::ctrlaltdel:/bin/echo cad\n",
        )
        .unwrap();
        fs::write(etc.join("init.d/db"), "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: database\n# Required-Start: $local_fs $network\n# Default-Start: 2 3 4 5\n### END INIT INFO\n").unwrap();
        fs::write(etc.join("init.d/web"), "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: web\n# Required-Start: $remote_fs database\n# Should-Start: $time\n# Default-Start: 3\n### END INIT INFO\n").unwrap();
        fs::write(
            etc.join("init.d/broken"),
            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: x\n",
        )
        .unwrap();
        // Debian's hwclock.sh: an rcS script.
        fs::write(etc.join("init.d/hwclock.sh"), "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: hwclock\n# Required-Start: mountdevsubfs\n# Default-Start: S\n### END INIT INFO\n").unwrap();
        let (units, extras, diags) = generate(etc);
        let hw = units.iter().find(|u| u.name == "hwclock.service").unwrap();
        assert!(!hw.default_dependencies && hw.deps.before.contains("sysinit.target"));
        assert_eq!(hw.install.wanted_by, ["sysinit.target"]);
        assert_eq!(extras.initdefault, Some('3'));
        assert_eq!(extras.ctrlaltdel, ["/bin/echo cad"]);
        assert_eq!(diags.len(), 1, "{diags:?}");
        let web = units.iter().find(|u| u.name == "web.service").unwrap();
        assert!(web.deps.after.contains("db.service") && web.deps.wants.contains("db.service"));
        assert!(
            web.deps.after.contains("remote-fs.target")
                && web.deps.after.contains("time-sync.target")
        );
        assert_eq!(web.install.wanted_by, ["runlevel3.target"]);
        let r1 = units
            .iter()
            .find(|u| u.name == "inittab-r1.service")
            .unwrap();
        assert_eq!(r1.service().unwrap().restart, RestartPolicy::Always);
        assert_eq!(
            r1.install.wanted_by,
            ["runlevel3.target", "runlevel4.target", "runlevel5.target"]
        );
        assert!(units.iter().any(|u| u.name == "default.target"));
    }
}

#[cfg(test)]
mod rc_tests {
    use super::*;
    use std::fs;

    #[test]
    fn rc_links_without_headers_order_by_priority() {
        let t = tempfile::tempdir().unwrap();
        let etc = t.path();
        fs::create_dir_all(etc.join("init.d")).unwrap();
        fs::create_dir_all(etc.join("rc3.d")).unwrap();
        for n in ["net", "app", "off"] {
            fs::write(etc.join("init.d").join(n), "#!/bin/sh\nexit 0\n").unwrap();
        }
        std::os::unix::fs::symlink("../init.d/net", etc.join("rc3.d/S10net")).unwrap();
        std::os::unix::fs::symlink("../init.d/app", etc.join("rc3.d/S20app")).unwrap();
        std::os::unix::fs::symlink("../init.d/off", etc.join("rc3.d/K01off")).unwrap();
        let (units, _, _) = generate(etc);
        let app = units.iter().find(|u| u.name == "app.service").unwrap();
        assert!(app.deps.after.contains("net.service"));
        assert_eq!(app.install.wanted_by, ["runlevel3.target"]);
        assert!(
            !units.iter().any(|u| u.name == "off.service"),
            "only S links enable a script"
        );
        let s = app.service().unwrap();
        assert_eq!(s.service_type, ServiceType::Forking);
        assert!(s.remain_after_exit);
        assert_eq!(s.exec_stop[0].argv[1], "stop");
    }
}
