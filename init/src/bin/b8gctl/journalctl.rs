//! b8gctl under the name `journalctl`: the logs b8g-init keeps (this boot's, per
//! unit: services' output and what they sent to `/dev/log`), read with journalctl's
//! everyday options. There is no journal file: earlier boots and kernel messages are
//! refused with a message rather than silently ignored.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use b8g_init::control::{call, Command, Request, Response};
use b8g_init::systemctl::mangle;
use serde_json::{json, Value};

use crate::timestamp;

const USAGE: &str =
    "usage: journalctl [-u UNIT]... [-t IDENTIFIER]... [-p PRIORITY] [-S SINCE] [-U UNTIL]
                  [-f] [-n N] [-r] [-b] [-o short|short-iso|short-monotonic|cat|json] [--no-pager]
(b8gctl: this boot's per-unit logs kept by b8g-init; without -u, every unit's; -k the kernel's)";

/// The fields `FIELD=VALUE` may match, as journalctl names them.
const MATCH_FIELDS: [&str; 6] = [
    "_SYSTEMD_UNIT",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_PID",
    "_PID",
    "_UID",
    "PRIORITY",
];

const OUTPUTS: [&str; 6] = [
    "short",
    "short-iso",
    "short-precise",
    "short-monotonic",
    "cat",
    "json",
];

struct Opts {
    units: Vec<String>,
    idents: Vec<String>,
    /// `FIELD=VALUE` matches: one field's values are alternatives, fields all apply.
    matches: Vec<(String, String)>,
    priorities: Option<std::ops::RangeInclusive<u8>>,
    since: Option<i64>,
    until: Option<i64>,
    follow: bool,
    reverse: bool,
    lines: Option<usize>,
    output: String,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn parse(args: Vec<String>) -> Result<Option<Opts>> {
    let mut o = Opts {
        units: Vec::new(),
        idents: Vec::new(),
        matches: Vec::new(),
        priorities: None,
        since: None,
        until: None,
        follow: false,
        reverse: false,
        lines: None,
        output: "short".into(),
    };
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        let (flag, inline) =
            crate::args::split_flag(&a, &["-u", "-n", "-o", "-b", "-p", "-t", "-S", "-U"]);
        let mut value = |what: &str| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().with_context(|| format!("{what} needs a value")),
            }
        };
        match flag.as_str() {
            "-u" | "--unit" => o.units.push(mangle(&value("--unit")?)),
            "-t" | "--identifier" => o.idents.push(value("--identifier")?),
            "-p" | "--priority" => {
                let v = value("--priority")?;
                o.priorities = Some(
                    b8g_init::syslog::parse_level_filter(&v)
                        .with_context(|| format!("--priority: {v:?} is not a priority (emerg, alert, crit, err, warning, notice, info, debug, 0-7, or FROM..TO)"))?,
                );
            }
            "-S" | "--since" => {
                let v = value("--since")?;
                o.since = Some(timestamp::parse(&v, now_us()).context("--since")?);
            }
            "-U" | "--until" => {
                let v = value("--until")?;
                o.until = Some(timestamp::parse(&v, now_us()).context("--until")?);
            }
            "-f" | "--follow" => o.follow = true,
            "-r" | "--reverse" => o.reverse = true,
            "-n" | "--lines" => {
                let v = value("--lines")?;
                o.lines = Some(if v == "all" {
                    usize::MAX
                } else {
                    v.trim_start_matches('+')
                        .parse()
                        .with_context(|| format!("--lines: {v:?} is not a number"))?
                });
            }
            "-o" | "--output" => {
                let v = value("--output")?;
                if !OUTPUTS.contains(&v.as_str()) {
                    bail!("--output={v} is not supported ({})", OUTPUTS.join(", "));
                }
                o.output = v;
            }
            // Only this boot is kept: `-b`, `-b 0` and `-b -0` mean it.
            "-b" | "--boot" => {
                let boot = |n: &String| {
                    let d = n.strip_prefix('-').unwrap_or(n);
                    !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
                };
                let v = inline.or_else(|| it.next_if(boot));
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    if v != "0" && v != "-0" {
                        bail!("-b {v}: b8g-init keeps only this boot's log");
                    }
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            // The kernel's messages of this boot, which b8g-init reads from /dev/kmsg.
            "-k" | "--dmesg" => o.units.push("kernel".into()),
            "--list-boots" => {
                bail!("{flag} is not supported: b8g-init keeps only this boot's log")
            }
            "--no-pager" | "-e" | "--pager-end" | "-x" | "--catalog" | "-q" | "--quiet" | "-a"
            | "--all" | "--no-hostname" | "--system" | "-l" | "--full" => {}
            m if !m.starts_with('-') && m.contains('=') => {
                let (f, v) = m.split_once('=').unwrap_or_default();
                if !MATCH_FIELDS.contains(&f) {
                    bail!(
                        "{f}= is not a field b8g-init keeps ({})",
                        MATCH_FIELDS.join(", ")
                    );
                }
                o.matches.push((f.to_string(), v.to_string()));
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    if o.follow && o.reverse {
        bail!("--follow and --reverse cannot be combined");
    }
    // journalctl -f shows the last 10 lines first.
    if o.follow && o.lines.is_none() {
        o.lines = Some(10);
    }
    Ok(Some(o))
}

impl Opts {
    fn wants(&self, l: &Value) -> bool {
        let prio = l["priority"].as_u64().unwrap_or(6) as u8;
        let at = l["realtime_us"].as_i64().unwrap_or(0);
        self.priorities.as_ref().is_none_or(|r| r.contains(&prio))
            && self.since.is_none_or(|s| at >= s)
            && self.until.is_none_or(|u| at <= u)
            && (self.idents.is_empty()
                || l["ident"]
                    .as_str()
                    .is_some_and(|i| self.idents.iter().any(|w| w == i)))
            && self.matches_fields(l)
    }

    fn matches_fields(&self, l: &Value) -> bool {
        if self.matches.is_empty() {
            return true;
        }
        let j = journal_json(l);
        let mut fields: Vec<&str> = self.matches.iter().map(|(f, _)| f.as_str()).collect();
        fields.dedup();
        fields.iter().all(|f| {
            self.matches
                .iter()
                .filter(|(g, _)| g == f)
                .any(|(_, v)| j[*f].as_str() == Some(v.as_str()))
        })
    }
}

fn fetch(socket: &Path, units: &[String], after: u64) -> Result<Vec<Value>> {
    let mut lines = Vec::new();
    let requests: Vec<(Command, Vec<String>)> = if units.is_empty() {
        vec![(Command::Journal, Vec::new())]
    } else {
        units
            .iter()
            .map(|u| (Command::Log, vec![u.clone()]))
            .collect()
    };
    for (cmd, units) in requests {
        let mut req = Request::new(cmd, units);
        req.after = after;
        let r: Response = call(socket, &req)?;
        if !r.ok {
            bail!("{}", r.error.unwrap_or_else(|| "failed".into()));
        }
        lines.extend(r.data.as_array().cloned().unwrap_or_default());
    }
    lines.sort_by_key(|l| l["seq"].as_u64().unwrap_or(0));
    Ok(lines)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// `IDENT[PID]` as journalctl tags a line; a service's output without
/// `SyslogIdentifier=` is tagged with its unit.
fn tag(l: &Value) -> String {
    let ident = l["ident"]
        .as_str()
        .or(l["unit"].as_str())
        .unwrap_or("")
        .to_string();
    let ident = b8g_init::log::escape_controls(&ident).into_owned();
    match l["pid"].as_i64().or(l["sender_pid"].as_i64()) {
        Some(p) => format!("{ident}[{p}]"),
        None => ident,
    }
}

/// One line in journalctl's JSON form: its field names, every value a string.
fn journal_json(l: &Value) -> Value {
    let s = |v: &Value| match v {
        Value::String(s) => Value::String(s.clone()),
        Value::Null => Value::Null,
        other => Value::String(other.to_string()),
    };
    let mut o = json!({
        "__CURSOR": format!("s={}", l["seq"]),
        "__REALTIME_TIMESTAMP": s(&l["realtime_us"]),
        "__MONOTONIC_TIMESTAMP": (l["ms"].as_u64().unwrap_or(0) * 1000).to_string(),
        "PRIORITY": s(&l["priority"]),
        "MESSAGE": s(&l["text"]),
        "_SYSTEMD_UNIT": s(&l["unit"]),
    });
    if !l["ident"].is_null() {
        o["SYSLOG_IDENTIFIER"] = s(&l["ident"]);
    }
    if !l["pid"].is_null() {
        o["SYSLOG_PID"] = s(&l["pid"]);
    }
    if !l["sender_pid"].is_null() {
        o["_PID"] = s(&l["sender_pid"]);
    }
    if !l["sender_uid"].is_null() {
        o["_UID"] = s(&l["sender_uid"]);
    }
    o
}

/// Runs `journalctl ARGS` against b8g-init's control socket; `print` writes a line
/// (it ends the program quietly on a closed pipe).
pub fn run(socket: &Path, args: Vec<String>, print: &dyn Fn(&str)) -> Result<i32> {
    let Some(o) = parse(args)? else {
        return Ok(0);
    };
    let host = hostname();
    let show = |l: &Value| {
        // A message's control characters are shown escaped: they must not forge lines
        // or reach the terminal as escape sequences.
        let text = b8g_init::log::escape_controls(l["text"].as_str().unwrap_or(""));
        let at = l["realtime_us"].as_i64().unwrap_or(0);
        match o.output.as_str() {
            "cat" => print(&text),
            "json" => print(&journal_json(l).to_string()),
            "short-monotonic" => {
                let ms = l["ms"].as_u64().unwrap_or(0);
                print(&format!(
                    "[{:>5}.{:06}] {host} {}: {text}",
                    ms / 1000,
                    (ms % 1000) * 1000,
                    tag(l)
                ))
            }
            "short-iso" | "short-precise" => print(&format!(
                "{} {host} {}: {text}",
                timestamp::iso(at, o.output == "short-precise"),
                tag(l)
            )),
            _ => print(&format!(
                "{} {host} {}: {text}",
                timestamp::short(at),
                tag(l)
            )),
        }
    };
    let mut lines = fetch(socket, &o.units, 0)?;
    // Lines before the window count as seen when following.
    let mut after = lines
        .iter()
        .map(|l| l["seq"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    lines.retain(|l| o.wants(l));
    if let Some(n) = o.lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    if o.reverse {
        lines.reverse();
    }
    if lines.is_empty() && !o.follow && o.output != "json" {
        print("-- No entries --");
    }
    for l in &lines {
        show(l);
    }
    if !o.follow {
        return Ok(0);
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for l in fetch(socket, &o.units, after)? {
            after = after.max(l["seq"].as_u64().unwrap_or(0));
            if o.wants(&l) {
                show(&l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Opts {
        parse(a.iter().map(|s| s.to_string()).collect())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn journalctl_options_parse_as_journalctl_takes_them() {
        let o = p(&[
            "-u",
            "nginx",
            "--unit=sshd.service",
            "-n5",
            "-b",
            "--no-pager",
            "-o",
            "cat",
        ]);
        assert_eq!(o.units, ["nginx.service", "sshd.service"]);
        assert_eq!(o.lines, Some(5));
        assert_eq!(o.output, "cat");
        assert_eq!(p(&["-f"]).lines, Some(10));
        assert_eq!(p(&["-n", "all"]).lines, Some(usize::MAX));
        assert_eq!(p(&["-b", "0", "-u", "x"]).units, ["x.service"]);
        let o = p(&[
            "-p",
            "warning..err",
            "-t",
            "sshd",
            "-S",
            "@100",
            "--until=@200",
        ]);
        assert_eq!(o.priorities, Some(3..=4));
        assert_eq!(o.idents, ["sshd"]);
        assert_eq!((o.since, o.until), (Some(100_000_000), Some(200_000_000)));
        let line = |prio: u8, at: i64, ident: &str| json!({"priority": prio, "realtime_us": at, "ident": ident, "text": "x"});
        assert!(o.wants(&line(3, 150_000_000, "sshd")));
        assert!(!o.wants(&line(6, 150_000_000, "sshd")));
        assert!(!o.wants(&line(3, 250_000_000, "sshd")));
        assert!(!o.wants(&line(3, 150_000_000, "cron")));
        let o = p(&["_UID=1000", "_UID=1001", "SYSLOG_IDENTIFIER=sudo"]);
        let from = |uid: u32, ident: &str| json!({"unit": "x.service", "text": "t", "ident": ident, "sender_uid": uid});
        assert!(o.wants(&from(1001, "sudo")));
        assert!(!o.wants(&from(1002, "sudo")) && !o.wants(&from(1000, "su")));
        for bad in [
            &["-p", "loud"][..],
            &["--since", "last week"],
            &["-b", "-1"],
            &["--list-boots"],
            &["-f", "-r"],
            &["_COMM=x"],
            &["--bogus"],
        ] {
            assert!(
                parse(bad.iter().map(|s| s.to_string()).collect()).is_err(),
                "{bad:?}"
            );
        }
    }
}
