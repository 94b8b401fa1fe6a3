//! The verbs `b8gctl` answers as `systemctl` (is-active, enable, show, …),
//! with systemctl's options, output shapes and exit codes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use b8g_init::control::{call, Command, Request, Response};
use b8g_init::unitfiles::{UnitFileError, UnitFiles};
use serde_json::Value;

use super::{queue_and_wait, request};

/// Options of the systemctl-compatible verbs.
#[derive(Default)]
pub(crate) struct Opts {
    pub(crate) quiet: bool,
    pub(crate) now: bool,
    pub(crate) no_reload: bool,
    pub(crate) runtime: bool,
    pub(crate) value: bool,
    pub(crate) no_legend: bool,
    pub(crate) root: Option<PathBuf>,
    pub(crate) props: Vec<String>,
    pub(crate) signal: Option<i32>,
    pub(crate) whom: Option<String>,
    pub(crate) types: Vec<String>,
    pub(crate) states: Vec<String>,
}

/// The unit directories to edit: under `--root=`, else those the running b8g-init
/// reads, else systemd's under `/` (no b8g-init: an image being prepared).
fn unit_files(o: &Opts, socket: &std::path::Path) -> UnitFiles {
    let uf = match &o.root {
        Some(r) => UnitFiles::under_root(r),
        None => match request(socket, "paths", vec![]) {
            Ok(p) => UnitFiles::from_dirs(
                p["unit_dirs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(PathBuf::from)
                    .collect(),
                p["install_enables"].as_bool().unwrap_or(false),
            ),
            Err(_) => UnitFiles::under_root(std::path::Path::new("/")),
        },
    };
    if o.runtime {
        uf.runtime()
    } else {
        uf
    }
}

/// The verbs b8gctl answers as systemctl; None for the others.
pub(crate) fn systemctl_verb(
    cmd: &str,
    args: &[String],
    o: &Opts,
    socket: &std::path::Path,
    block: bool,
) -> Result<Option<i32>> {
    let needs_unit = [
        "is-active",
        "is-failed",
        "is-enabled",
        "enable",
        "disable",
        "mask",
        "unmask",
        "cat",
        "kill",
        "set-default",
    ];
    if needs_unit.contains(&cmd) && args.is_empty() {
        bail!("{cmd} needs at least one unit name");
    }
    let code = match cmd {
        "is-active" | "is-failed" => {
            let data = request(socket, "status", args.to_vec())?;
            let good: &[&str] = if cmd == "is-active" {
                &["active", "reloading"]
            } else {
                &["failed"]
            };
            let mut any = false;
            for u in data.as_array().into_iter().flatten() {
                let st = u["active"].as_str().unwrap_or("unknown");
                any |= good.contains(&st);
                if !o.quiet {
                    out!("{st}");
                }
            }
            // systemctl(1): is-active exits 3 (program not running), is-failed 1.
            match (any, cmd) {
                (true, _) => 0,
                (false, "is-active") => 3,
                _ => 1,
            }
        }
        "is-enabled" => {
            let uf = unit_files(o, socket);
            let etc = o.root.clone().unwrap_or_else(|| "/".into()).join("etc");
            let mut any = false;
            let mut code = 0;
            for u in args {
                match uf.state(u) {
                    Ok(st) => {
                        any |= st.counts_as_enabled();
                        if !o.quiet {
                            out!("{}", st.as_str());
                        }
                    }
                    Err(UnitFileError::NotFound(_)) => {
                        match b8g_init::systemctl::sysv_enabled(&etc, u) {
                            Some(en) => {
                                any |= en;
                                if !o.quiet {
                                    eprintln!("{u} is not a native service, redirecting to systemd-sysv-install.");
                                    out!("{}", if en { "enabled" } else { "disabled" });
                                }
                            }
                            None => {
                                if !o.quiet {
                                    eprintln!("Failed to get unit file state for {u}: No such file or directory");
                                }
                                code = 1;
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("Failed to get unit file state for {u}: {e}");
                        code = 1;
                    }
                }
            }
            if code == 0 && !any {
                1
            } else {
                code
            }
        }
        "enable" | "disable" | "mask" | "unmask" | "set-default" => {
            let uf = unit_files(o, socket);
            let verb = cmd;
            let done = match verb {
                "enable" => uf.enable(args).map(|r| {
                    if !r.no_install.is_empty() && !o.quiet {
                        eprintln!("The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled or disabled using systemctl.");
                    }
                    r.changes
                }),
                "disable" => uf.disable(args),
                "mask" => uf.mask(args),
                "unmask" => uf.unmask(args),
                _ => uf.set_default(&args[0]),
            };
            let changes = match done {
                Ok(c) => c,
                Err(e) => {
                    let what = if verb == "set-default" {
                        "set default target"
                    } else {
                        ""
                    };
                    if what.is_empty() {
                        eprintln!("Failed to {verb} unit: {e}");
                    } else {
                        eprintln!("Failed to {what}: {e}");
                    }
                    return Ok(Some(1));
                }
            };
            if !o.quiet {
                for c in &changes {
                    eprintln!("{c}");
                }
            }
            // Online, PID 1 rereads its units unless told not to (systemctl's
            // --no-reload); an offline tree has no PID 1 to tell.
            if o.root.is_none() && !o.no_reload && socket.exists() {
                request(socket, "daemon-reload", vec![])?;
            }
            if o.now && o.root.is_none() {
                let action = match verb {
                    "enable" => Some("start"),
                    "disable" | "mask" => Some("stop"),
                    _ => None,
                };
                if let Some(action) = action {
                    return Ok(Some(queue_and_wait(socket, action, args, block)?));
                }
            }
            0
        }
        "get-default" => {
            out!("{}", unit_files(o, socket).get_default());
            0
        }
        "cat" => {
            let uf = unit_files(o, socket);
            let mut code = 0;
            for (i, u) in args.iter().enumerate() {
                match uf.sources(u) {
                    Ok(files) => {
                        if i > 0 {
                            out!("");
                        }
                        for (j, f) in files.iter().enumerate() {
                            if j > 0 {
                                out!("");
                            }
                            out!("# {}", f.display());
                            let text = std::fs::read_to_string(f)
                                .with_context(|| format!("reading {}", f.display()))?;
                            out!("{}", text.strip_suffix('\n').unwrap_or(&text));
                        }
                    }
                    Err(UnitFileError::NotFound(_)) => {
                        eprintln!("No files found for {u}.");
                        code = 1;
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            code
        }
        "list-unit-files" => {
            let uf = unit_files(o, socket);
            let mut rows = Vec::new();
            for n in uf.names() {
                if !args.is_empty() && !args.iter().any(|p| b8g_init::systemctl::glob_match(p, &n))
                {
                    continue;
                }
                let kind = n.rsplit_once('.').map_or("", |(_, k)| k);
                if !o.types.is_empty() && !o.types.iter().any(|t| t == kind) {
                    continue;
                }
                let Ok(st) = uf.state(&n) else { continue };
                if !o.states.is_empty() && !o.states.iter().any(|s| s == st.as_str()) {
                    continue;
                }
                // b8g has no preset files: systemd's default policy is "enable".
                let preset = match st.as_str() {
                    "enabled" | "disabled" | "indirect" => "enabled",
                    _ => "-",
                };
                rows.push((n, st.as_str(), preset));
            }
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(9);
            if !o.no_legend {
                out!("{:<w$} {:<15} VENDOR PRESET", "UNIT FILE", "STATE");
            }
            for (n, st, p) in &rows {
                out!("{n:<w$} {st:<15} {p}");
            }
            if !o.no_legend {
                out!("\n{} unit files listed.", rows.len());
            }
            0
        }
        "show" => {
            if args.is_empty() {
                let st = request(socket, "status", vec![])?;
                let props = b8g_init::systemctl::manager_properties(&st);
                print!(
                    "{}",
                    b8g_init::systemctl::render_show(&props, &o.props, o.value)
                );
                return Ok(Some(0));
            }
            let uf = unit_files(o, socket);
            let data = request(socket, "status", args.to_vec())?;
            for (i, u) in data.as_array().into_iter().flatten().enumerate() {
                let name = u["name"].as_str().unwrap_or("");
                let fs = uf.state(name).ok().map(|s| s.as_str());
                let props = b8g_init::systemctl::unit_properties(u, fs);
                if i > 0 {
                    out!("");
                }
                let text = b8g_init::systemctl::render_show(&props, &o.props, o.value);
                if let Some(t) = text.strip_suffix('\n') {
                    out!("{t}");
                }
            }
            0
        }
        "kill" => {
            let r: Response = call(
                socket,
                &Request {
                    signal: o.signal,
                    whom: o.whom.clone(),
                    ..Request::new(Command::Kill, args.to_vec())
                },
            )?;
            if !r.ok {
                eprintln!(
                    "Failed to kill unit {}: {}",
                    args.join(" "),
                    r.error.unwrap_or_default()
                );
                return Ok(Some(1));
            }
            0
        }
        "list-timers" => {
            let data = request(socket, "list-timers", vec![])?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            use b8g_init::systemctl::{format_span, format_timestamp};
            // systemctl shows local time (TZ, else /etc/localtime).
            let tz = jiff::tz::TimeZone::system();
            let format_timestamp = |us| format_timestamp(us, &tz);
            let mut rows: Vec<[String; 6]> = Vec::new();
            let mut timers: Vec<&Value> = data.as_array().into_iter().flatten().collect();
            timers.sort_by_key(|t| t["next_us"].as_u64().unwrap_or(u64::MAX));
            for t in timers {
                let next = t["next_us"].as_u64();
                let last = t["last_us"].as_u64();
                rows.push([
                    next.map(format_timestamp).unwrap_or_else(|| "-".into()),
                    next.map(|n| format!("{} left", format_span(n.saturating_sub(now))))
                        .unwrap_or_else(|| "-".into()),
                    last.map(format_timestamp).unwrap_or_else(|| "-".into()),
                    last.map(|l| format!("{} ago", format_span(now.saturating_sub(l))))
                        .unwrap_or_else(|| "-".into()),
                    t["unit"].as_str().unwrap_or("").to_string(),
                    t["activates"].as_str().unwrap_or("").to_string(),
                ]);
            }
            let head = ["NEXT", "LEFT", "LAST", "PASSED", "UNIT", "ACTIVATES"];
            let mut w = head.map(str::len);
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.len());
                }
            }
            let line = |cells: [&str; 6]| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == 5 {
                            c.to_string()
                        } else {
                            format!("{c:<0$}", w[i])
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if !o.no_legend {
                out!("{}", line(head));
            }
            for r in &rows {
                out!("{}", line(std::array::from_fn(|i| r[i].as_str())));
            }
            if !o.no_legend {
                out!("\n{} timers listed.", rows.len());
            }
            0
        }
        "try-reload-or-restart" => {
            // Nothing for units that are not running; else reload-or-restart.
            let data = request(socket, "status", args.to_vec())?;
            let running: Vec<String> = data
                .as_array()
                .into_iter()
                .flatten()
                .filter(|u| {
                    matches!(
                        u["active"].as_str(),
                        Some("active" | "reloading" | "activating")
                    )
                })
                .filter_map(|u| u["name"].as_str().map(str::to_string))
                .collect();
            if running.is_empty() {
                return Ok(Some(0));
            }
            queue_and_wait(socket, "reload-or-restart", &running, block)?
        }
        "daemon-reexec" => {
            eprintln!("b8gctl: daemon-reexec is not supported: b8g-init cannot re-execute itself keeping its state (running services, sockets, jobs). Use daemon-reload to reread unit files; a new b8g-init binary takes effect at the next boot.");
            1
        }
        _ => return Ok(None),
    };
    Ok(Some(code))
}
