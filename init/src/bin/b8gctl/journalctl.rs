//! b8gctl under the name `journalctl`: the logs b8g-init keeps (this boot's, per
//! unit), read with journalctl's everyday options. There is no journal file and no
//! syslog socket yet: priorities, `--since`/`--until` and earlier boots are refused
//! with a message rather than silently ignored.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use b8g_init::control::{call, Command, Request, Response};
use b8g_init::systemctl::mangle;
use serde_json::Value;

const USAGE: &str =
    "usage: journalctl [-u UNIT]... [-f] [-n N] [-b] [-o short|cat|json] [--no-pager]
(b8gctl: this boot's per-unit logs kept by b8g-init; without -u, every unit's)";

struct Opts {
    units: Vec<String>,
    follow: bool,
    lines: Option<usize>,
    output: String,
}

fn parse(args: Vec<String>) -> Result<Option<Opts>> {
    let mut o = Opts {
        units: Vec::new(),
        follow: false,
        lines: None,
        output: "short".into(),
    };
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        let (flag, inline) = crate::args::split_flag(&a, &["-u", "-n", "-o", "-b"]);
        let mut value = |what: &str| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it.next().with_context(|| format!("{what} needs a value")),
            }
        };
        match flag.as_str() {
            "-u" | "--unit" => o.units.push(mangle(&value("--unit")?)),
            "-f" | "--follow" => o.follow = true,
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
                if !["short", "cat", "json"].contains(&v.as_str()) {
                    bail!("--output={v} is not supported (short, cat or json)");
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
            "-p" | "--priority" | "-S" | "--since" | "-U" | "--until" | "-k" | "--dmesg"
            | "--list-boots" => {
                bail!("{flag} is not supported: b8g-init's logs have no priorities, wall-clock times or kernel messages (b8gctl log UNIT shows a unit's)")
            }
            "--no-pager" | "-e" | "--pager-end" | "-x" | "--catalog" | "-q" | "--quiet" | "-a"
            | "--all" | "--no-hostname" | "--system" | "-l" | "--full" => {}
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    // journalctl -f shows the last 10 lines first.
    if o.follow && o.lines.is_none() {
        o.lines = Some(10);
    }
    Ok(Some(o))
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

/// Runs `journalctl ARGS` against b8g-init's control socket; `print` writes a line
/// (it ends the program quietly on a closed pipe).
pub fn run(socket: &Path, args: Vec<String>, print: &dyn Fn(&str)) -> Result<i32> {
    let Some(o) = parse(args)? else {
        return Ok(0);
    };
    let show = |l: &Value| match o.output.as_str() {
        "cat" => print(l["text"].as_str().unwrap_or("")),
        "json" => print(&l.to_string()),
        _ => print(&crate::fmt_line(l)),
    };
    let mut lines = fetch(socket, &o.units, 0)?;
    // Lines before the window count as seen when following.
    let mut after = lines
        .iter()
        .map(|l| l["seq"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    if let Some(n) = o.lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
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
            show(&l);
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
        for bad in [
            &["-p", "err"][..],
            &["--since", "today"],
            &["-b", "-1"],
            &["--bogus"],
        ] {
            assert!(
                parse(bad.iter().map(|s| s.to_string()).collect()).is_err(),
                "{bad:?}"
            );
        }
    }
}
