//! `b8gctl`: the control CLI (also answers to the names `systemctl`, `telinit`,
//! `poweroff`, `reboot` and `halt`). Thin over `b8g_init::control` and `verify`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use b8g_init::control::{call, notify, Request, Response};
use b8g_init::systemctl::{mangle, parse_signal};
use b8g_init::unitfiles::{UnitFileError, UnitFiles};
use serde_json::Value;

const USAGE: &str = "usage: b8gctl [OPTIONS] COMMAND [ARGS]   (also installed as systemctl)
commands: status [UNIT...] | start|stop|restart|try-restart|reload|reload-or-restart|try-reload-or-restart UNIT...
          is-active|is-failed|is-enabled UNIT... | show [UNIT...] | cat UNIT... | kill UNIT...
          enable|disable|mask|unmask UNIT... | get-default | set-default TARGET
          list-units | list-unit-files [PATTERN...] | list-timers | list-dependencies [UNIT]
          is-system-running | log UNIT [-f] | daemon-reload | reset-failed [UNIT...] | isolate TARGET
          poweroff | reboot | halt | telinit N | jobs | verify FILE... | notify [--barrier] VAR=VALUE...
options:  --json --socket PATH --no-block -q|--quiet --now --no-reload --runtime --root=DIR
          -p|--property=NAME --value -s|--signal=SIG --kill-whom=main|control|all
          -t|--type=TYPE --state=STATE --no-legend (accepted: --system --no-pager --full -l -a --force)
not supported: daemon-reexec (b8g-init cannot re-execute itself keeping its state)";

/// `println!` that ends b8gctl quietly when its reader is gone (`b8gctl status | head`):
/// a closed pipe is the reader's choice, not an error (println! would panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("b8gctl: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("b8gctl: {e:#}");
            std::process::exit(1);
        }
    }
}

fn real_main() -> Result<i32> {
    let mut argv: Vec<String> = std::env::args().collect();
    let prog = PathBuf::from(argv.remove(0))
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match prog.as_str() {
        "telinit" | "init" => argv.insert(0, "telinit".into()),
        "poweroff" | "reboot" | "halt" => argv.insert(0, prog.clone()),
        _ => {}
    }
    let mut json = false;
    let mut block = true;
    let mut follow = false;
    let mut barrier = false;
    let mut o = Opts::default();
    let mut socket = std::env::var_os("B8G_CONTROL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| b8g_layout::generation::CONTROL_SOCKET.into());
    let mut rest = Vec::new();
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        // `--opt=value`, `--opt value` and `-pValue` forms.
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ if a.len() > 2
                && (a.starts_with("-p") || a.starts_with("-s") || a.starts_with("-t"))
                && !a.starts_with("--") =>
            {
                (a[..2].to_string(), Some(a[2..].to_string()))
            }
            _ => (a.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().with_context(|| format!("{what} needs a value")),
            }
        };
        match flag.as_str() {
            "--json" => json = true,
            "--output" | "-o" => json = value("--output")? == "json",
            "--no-block" => block = false,
            "-f" | "--follow" => follow = true,
            "--barrier" => barrier = true,
            "--socket" => socket = value("--socket")?.into(),
            "-h" | "--help" => {
                out!("{USAGE}");
                return Ok(0);
            }
            "-q" | "--quiet" => o.quiet = true,
            "--now" => o.now = true,
            "--no-reload" => o.no_reload = true,
            "--runtime" => o.runtime = true,
            "--value" => o.value = true,
            "--no-legend" => o.no_legend = true,
            "--root" => o.root = Some(value("--root")?.into()),
            "-p" | "--property" => o
                .props
                .extend(value("--property")?.split(',').map(str::to_string)),
            "-s" | "--signal" => {
                let v = value("--signal")?;
                o.signal = Some(parse_signal(&v).with_context(|| format!("unknown signal {v:?}"))?);
            }
            "--kill-whom" | "--kill-who" => o.whom = Some(value("--kill-whom")?),
            "-t" | "--type" => o
                .types
                .extend(value("--type")?.split(',').map(str::to_string)),
            "--state" => o
                .states
                .extend(value("--state")?.split(',').map(str::to_string)),
            // invoke-rc.d passes --job-mode=ignore-dependencies from inside a unit's
            // start; b8g-init's jobs always follow dependencies (as --job-mode=replace).
            "--job-mode" => {
                let m = value("--job-mode")?;
                if m != "replace" && !o.quiet {
                    eprintln!("b8gctl: --job-mode={m} is not supported; jobs run as with replace");
                }
            }
            "--no-pager" | "--system" | "--full" | "-l" | "-a" | "--all" | "--force"
            | "--no-ask-password" | "--plain" => {}
            "--" => rest.extend(it.by_ref()),
            _ => rest.push(a),
        }
    }
    let Some(cmd) = rest.first().cloned() else {
        bail!("{USAGE}");
    };
    let mut args: Vec<String> = rest[1..].to_vec();
    let cmd = match cmd.as_str() {
        "condrestart" => "try-restart".to_string(),
        "force-reload" | "reload-or-try-restart" => "try-reload-or-restart".to_string(),
        "condreload" => "try-reload-or-restart".to_string(),
        _ => cmd,
    };
    // Unit arguments get systemctl's suffixes: `nginx` is nginx.service, `rescue` given
    // to isolate or set-default is rescue.target.
    match cmd.as_str() {
        "isolate" | "set-default" => {
            for a in &mut args {
                if !a.contains('.') {
                    a.push_str(".target");
                }
            }
        }
        "verify" | "switch" | "boot-check" | "notify" | "telinit" | "list-unit-files"
        | "list-units" => {}
        _ => args = args.iter().map(|a| mangle(a)).collect(),
    }
    if let Some(code) = systemctl_verb(&cmd, &args, &o, &socket, block)? {
        return Ok(code);
    }
    match cmd.as_str() {
        "verify" => return verify(&args, json),
        // Generations (issue 7): live switch and boot counting; see b8g_init::{switch, bootcheck}.
        "switch" => return Ok(b8g_init::switch::main(&socket, &args)?),
        "boot-check" => {
            let check = b8g_init::bootcheck::BootCheck::from_args(&socket, &args)
                .map_err(anyhow::Error::msg)?;
            return Ok(check.run());
        }
        "notify" => {
            let sock = std::env::var_os("NOTIFY_SOCKET").context("NOTIFY_SOCKET is not set")?;
            notify(&PathBuf::from(sock), &args.join("\n"), barrier)
                .context("sending notification")?;
            return Ok(0);
        }
        _ => {}
    }
    let send = |cmd: &str, units: Vec<String>, after: u64| -> Result<Value> {
        let r: Response = call(
            &socket,
            &Request {
                cmd: cmd.into(),
                units,
                after,
                ..Default::default()
            },
        )?;
        if !r.ok {
            bail!("{}", r.error.unwrap_or_else(|| "failed".into()));
        }
        Ok(r.data)
    };
    let needs_unit = [
        "start",
        "stop",
        "restart",
        "try-restart",
        "reload",
        "reload-or-restart",
        "isolate",
        "telinit",
        "log",
    ];
    if needs_unit.contains(&cmd.as_str()) && args.is_empty() {
        bail!("{cmd} needs an argument");
    }
    match cmd.as_str() {
        "start" | "stop" | "restart" | "reload" | "isolate" | "try-restart"
        | "reload-or-restart" => queue_and_wait(&socket, &cmd, &args, block),
        "status" => {
            let data = send("status", args.clone(), 0)?;
            if json {
                out!("{data}");
                return Ok(0);
            }
            if args.is_empty() {
                out!(
                    "State: {}\nUnits: {}\nJobs: {}\nFailed: {}",
                    data["state"].as_str().unwrap_or(""),
                    data["units"],
                    data["jobs"],
                    data["failed"]
                );
                return Ok(0);
            }
            let mut code = 0;
            for u in data.as_array().into_iter().flatten() {
                let name = u["name"].as_str().unwrap_or("");
                out!(
                    "● {name}{}",
                    u["description"]
                        .as_str()
                        .map(|d| format!(" - {d}"))
                        .unwrap_or_default()
                );
                out!(
                    "   Loaded: {} ({})",
                    u["load"].as_str().unwrap_or(""),
                    u["sources"]
                        .as_array()
                        .map(|a| a
                            .iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                );
                out!(
                    "   Active: {} ({}){}",
                    u["active"].as_str().unwrap_or(""),
                    u["sub"].as_str().unwrap_or(""),
                    u["result"]
                        .as_str()
                        .map(|r| format!(" result: {r}"))
                        .unwrap_or_default()
                );
                if let Some(p) = u["main_pid"].as_i64() {
                    out!(" Main PID: {p}");
                }
                if let Some(s) = u["status"].as_str() {
                    out!("   Status: \"{s}\"");
                }
                let logs = send("log", vec![name.to_string()], 0)?;
                let lines: Vec<&Value> = logs.as_array().into_iter().flatten().collect();
                for l in lines.iter().skip(lines.len().saturating_sub(10)) {
                    out!("{}", fmt_line(l));
                }
                // LSB exit codes (systemctl(1)): 3 not running, 4 no such unit.
                if u["load_state"] == "not-found" {
                    eprintln!("Unit {name} could not be found.");
                    code = code.max(4);
                } else if u["active"] != "active" && u["active"] != "reloading" {
                    code = code.max(3);
                }
            }
            Ok(code)
        }
        "list-units" => {
            let data = send("list-units", vec![], 0)?;
            if json {
                out!("{data}");
                return Ok(0);
            }
            out!("{:<40} {:<12} {:<14} DESCRIPTION", "UNIT", "ACTIVE", "SUB");
            for u in data.as_array().into_iter().flatten() {
                out!(
                    "{:<40} {:<12} {:<14} {}",
                    u["name"].as_str().unwrap_or(""),
                    u["active"].as_str().unwrap_or(""),
                    u["sub"].as_str().unwrap_or(""),
                    u["description"].as_str().unwrap_or("")
                );
            }
            Ok(0)
        }
        "list-dependencies" => {
            let data = send("list-dependencies", args.clone(), 0)?;
            if json {
                out!("{data}");
            } else {
                print_tree(&data, 0);
            }
            Ok(0)
        }
        "is-system-running" => {
            let data = send("is-system-running", vec![], 0)?;
            let s = data.as_str().unwrap_or("unknown");
            if json {
                out!("{data}");
            } else {
                out!("{s}");
            }
            Ok(if s == "running" { 0 } else { 1 })
        }
        "log" => {
            let mut after = 0;
            loop {
                let data = send("log", vec![args[0].clone()], after)?;
                for l in data.as_array().into_iter().flatten() {
                    after = after.max(l["seq"].as_u64().unwrap_or(0));
                    if json {
                        out!("{l}");
                    } else {
                        out!("{}", fmt_line(l));
                    }
                }
                if !follow {
                    return Ok(0);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        "daemon-reload" | "poweroff" | "reboot" | "halt" | "reset-failed" | "telinit" | "jobs" => {
            let data = send(&cmd, args, 0)?;
            if json || cmd == "jobs" {
                out!("{data}");
            }
            Ok(0)
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn fmt_line(l: &Value) -> String {
    let ms = l["ms"].as_u64().unwrap_or(0);
    format!(
        "[{:>6}.{:03}] {}: {}",
        ms / 1000,
        ms % 1000,
        l["unit"].as_str().unwrap_or(""),
        l["text"].as_str().unwrap_or("")
    )
}

fn print_tree(v: &Value, depth: usize) {
    out!(
        "{}{} ({})",
        "  ".repeat(depth),
        v["name"].as_str().unwrap_or(""),
        v["active"].as_str().unwrap_or("")
    );
    for c in v["deps"].as_array().into_iter().flatten() {
        print_tree(c, depth + 1);
    }
}

fn verify(files: &[String], json: bool) -> Result<i32> {
    if files.is_empty() {
        bail!("verify needs files");
    }
    let mut all = Vec::new();
    for f in files {
        all.extend(b8g_init::verify::verify_file(std::path::Path::new(f)));
    }
    if json {
        out!("{}", serde_json::to_string(&all)?);
    } else {
        for d in &all {
            eprintln!("{d}");
        }
    }
    Ok(if all.iter().any(|d| d.error) { 1 } else { 0 })
}

/// Options of the systemctl-compatible verbs.
#[derive(Default)]
struct Opts {
    quiet: bool,
    now: bool,
    no_reload: bool,
    runtime: bool,
    value: bool,
    no_legend: bool,
    root: Option<PathBuf>,
    props: Vec<String>,
    signal: Option<i32>,
    whom: Option<String>,
    types: Vec<String>,
    states: Vec<String>,
}

fn request(socket: &std::path::Path, cmd: &str, units: Vec<String>) -> Result<Value> {
    let r: Response = call(
        socket,
        &Request {
            cmd: cmd.into(),
            units,
            ..Default::default()
        },
    )?;
    if !r.ok {
        bail!("{}", r.error.unwrap_or_else(|| "failed".into()));
    }
    Ok(r.data)
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
fn systemctl_verb(
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
                    cmd: "kill".into(),
                    units: args.to_vec(),
                    signal: o.signal,
                    whom: o.whom.clone(),
                    ..Default::default()
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

/// Queues a start/stop/restart/reload/isolate job for `args` and, unless `--no-block`,
/// waits for the whole transaction; 1 when a named unit failed.
fn queue_and_wait(
    socket: &std::path::Path,
    verb: &str,
    args: &[String],
    block: bool,
) -> Result<i32> {
    let queued = match request(socket, verb, args.to_vec()) {
        Ok(q) => q,
        // systemctl's shape: "Failed to start foo.service: Unit foo.service is masked."
        Err(e) => {
            eprintln!("Failed to {verb} {}: {e:#}", args.join(" "));
            return Ok(1);
        }
    };
    if !block {
        return Ok(0);
    }
    // Wait for the whole transaction (dependents stopped with a requirement,
    // units stopped by Conflicts=, ...), then judge the named units by their state.
    let mut watch = args.to_vec();
    for j in queued["jobs"].as_array().into_iter().flatten() {
        if let Some(j) = j.as_str() {
            if !watch.iter().any(|w| w == j) {
                watch.push(j.to_string());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let states = loop {
        let st = request(socket, "status", watch.clone())?;
        let pending = st
            .as_array()
            .is_some_and(|a| a.iter().any(|s| !s["job"].is_null()));
        if !pending || Instant::now() > deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(30));
    };
    let mut code = 0;
    for (u, s) in args.iter().zip(states.as_array().into_iter().flatten()) {
        let active = s["active"].as_str().unwrap_or("");
        let restarted = queued["jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|j| j.as_str() == Some(u.as_str())));
        let failed = match verb {
            "stop" => false,
            // A unit that was not running got no job: nothing to judge.
            "try-restart" if !restarted => false,
            _ => active == "failed" || (active == "inactive" && !s["result"].is_null()),
        };
        if failed {
            eprintln!(
                "Job for {u} failed: {}",
                s["result"].as_str().unwrap_or("see b8gctl status")
            );
            code = 1;
        }
    }
    Ok(code)
}
