//! `b8gctl`: the control CLI (also answers to the names `systemctl`, `journalctl`,
//! `telinit`, `poweroff`, `reboot` and `halt`). Thin over `b8g_init::control` and `verify`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use b8g_init::control::{call, notify, Command, Request, Response};
use b8g_init::systemctl::{mangle, parse_signal};
use serde_json::Value;

const USAGE: &str = "usage: b8gctl [OPTIONS] COMMAND [ARGS]   (also installed as systemctl)
commands: status [UNIT...] | start|stop|restart|try-restart|reload|reload-or-restart|try-reload-or-restart UNIT...
          is-active|is-failed|is-enabled UNIT... | show [UNIT...] | cat UNIT... | kill UNIT...
          enable|disable|mask|unmask UNIT... | get-default | set-default TARGET
          list-units | list-unit-files [PATTERN...] | list-timers | list-dependencies [UNIT]
          is-system-running | log UNIT [-f] | daemon-reload | reset-failed [UNIT...] | isolate TARGET
          poweroff | reboot | halt | telinit N | jobs | verify [--strict] FILE... | notify [--barrier] VAR=VALUE...
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

mod args;
mod escape;
mod journalctl;
mod systemctl_verbs;
mod timestamp;
use systemctl_verbs::{systemctl_verb, Opts};

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Named as it was called (`systemctl: …`), as systemctl and journalctl do.
            let prog = std::env::args()
                .next()
                .and_then(|a| {
                    PathBuf::from(a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "b8gctl".into());
            eprintln!("{prog}: {e:#}");
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
    if prog == "systemd-escape" {
        out!("{}", escape::run(&argv)?);
        return Ok(0);
    }
    if prog == "journalctl" {
        let socket = std::env::var_os("B8G_CONTROL_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(|| b8g_layout::generation::CONTROL_SOCKET.into());
        return journalctl::run(&socket, argv, &|l: &str| out!("{l}"));
    }
    match prog.as_str() {
        "telinit" | "init" => argv.insert(0, "telinit".into()),
        "poweroff" | "reboot" | "halt" => argv.insert(0, prog.clone()),
        _ => {}
    }
    let mut json = false;
    let mut block = true;
    let mut follow = false;
    let mut barrier = false;
    let mut strict = false;
    let mut o = Opts::default();
    let mut socket = std::env::var_os("B8G_CONTROL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| b8g_layout::generation::CONTROL_SOCKET.into());
    let mut rest = Vec::new();
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        // `--opt=value`, `--opt value` and `-pValue` forms.
        let (flag, inline) = args::split_flag(&a, &["-p", "-s", "-t"]);
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
            // verify: unknown directives and sections (typos) are errors, not warnings.
            "--strict" => strict = true,
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
            "--failed" => o.states.push("failed".into()),
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
    // No command: systemctl's default, list-units (`systemctl --failed`).
    if rest.is_empty() && (prog == "systemctl" || !o.states.is_empty()) {
        rest.push("list-units".into());
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
        "verify" => return verify(&args, json, strict),
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
        let mut req = Request::new(cmd.parse::<Command>()?, units);
        req.after = after;
        let r: Response = call(&socket, &req)?;
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
            // systemctl's filters: --state (active or sub state), --type, PATTERNs.
            let shown = |u: &&serde_json::Value| {
                let name = u["name"].as_str().unwrap_or("");
                let (active, sub) = (
                    u["active"].as_str().unwrap_or(""),
                    u["sub"].as_str().unwrap_or(""),
                );
                (o.states.is_empty() || o.states.iter().any(|s| s == active || s == sub))
                    && (o.types.is_empty()
                        || o.types.iter().any(|t| name.ends_with(&format!(".{t}"))))
                    && (args.is_empty()
                        || args
                            .iter()
                            .any(|p| b8g_init::systemctl::glob_match(p, name)))
            };
            out!("{:<40} {:<12} {:<14} DESCRIPTION", "UNIT", "ACTIVE", "SUB");
            for u in data.as_array().into_iter().flatten().filter(shown) {
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
    let text = b8g_init::log::escape_controls(l["text"].as_str().unwrap_or(""));
    let ident = l["ident"].as_str().map(b8g_init::log::escape_controls);
    let tagged = match (
        ident.as_deref(),
        l["pid"].as_i64().or(l["sender_pid"].as_i64()),
    ) {
        (Some(i), Some(p)) => format!("{i}[{p}]: {text}"),
        (Some(i), None) => format!("{i}: {text}"),
        _ => text.to_string(),
    };
    format!(
        "[{:>6}.{:03}] {}: {tagged}",
        ms / 1000,
        ms % 1000,
        l["unit"].as_str().unwrap_or(""),
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

fn verify(files: &[String], json: bool, strict: bool) -> Result<i32> {
    if files.is_empty() {
        bail!("verify needs files");
    }
    let mut all = Vec::new();
    for f in files {
        let path = std::path::Path::new(f);
        let found = if strict {
            b8g_init::verify::verify_file_strict(path)
        } else {
            b8g_init::verify::verify_file(path)
        };
        for d in found {
            // A drop-in given beside its unit is read twice; say its faults once.
            if !all.contains(&d) {
                all.push(d);
            }
        }
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

fn request(socket: &std::path::Path, cmd: &str, units: Vec<String>) -> Result<Value> {
    let r: Response = call(socket, &Request::new(cmd.parse::<Command>()?, units))?;
    if !r.ok {
        bail!("{}", r.error.unwrap_or_else(|| "failed".into()));
    }
    Ok(r.data)
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
