//! `systemd-escape` (b8gctl called by that name): systemd's unit-name escaping, which
//! Debian's scripts call (ifupdown's hotplug hook asks for `ifup@IFACE.service`).

use anyhow::{bail, Result};
use b8g_init::unit::name::{escape, escape_path, unescape, unescape_path};

/// The escaped (or unescaped) words, space-separated as systemd-escape prints them.
pub fn run(args: &[String]) -> Result<String> {
    let (mut path, mut undo) = (false, false);
    let (mut suffix, mut template) = (None::<String>, None::<String>);
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        // getopt's long options: `--template=X` or `--template X`.
        let mut value = |name: &str| -> Result<Option<String>> {
            if let Some(v) = a.strip_prefix(&format!("--{name}=")) {
                return Ok(Some(v.to_string()));
            }
            if *a == format!("--{name}") {
                return match it.next() {
                    Some(v) => Ok(Some(v.clone())),
                    None => bail!("--{name} needs a value"),
                };
            }
            Ok(None)
        };
        if let Some(v) = value("suffix")? {
            suffix = Some(v);
            continue;
        }
        if let Some(v) = value("template")? {
            template = Some(v);
            continue;
        }
        match a.as_str() {
            "-p" | "--path" => path = true,
            "-u" | "--unescape" => undo = true,
            _ if a.starts_with('-') && a.len() > 1 => bail!("unknown option {a:?}"),
            _ => words.push(a.clone()),
        }
    }
    if suffix.is_some() && template.is_some() {
        bail!("--suffix= and --template= exclude each other");
    }
    if undo && (suffix.is_some() || template.is_some()) {
        bail!("--unescape takes no --suffix= or --template=");
    }
    let mut out = Vec::new();
    for w in &words {
        let e = match (undo, path) {
            (true, true) => unescape_path(w),
            (true, false) => unescape(w),
            (false, true) => escape_path(w),
            (false, false) => escape(w),
        };
        out.push(match (&suffix, &template) {
            (Some(s), _) => format!("{e}.{s}"),
            (_, Some(t)) => match t.split_once("@.") {
                Some((pre, post)) => format!("{pre}@{e}.{post}"),
                None => bail!("--template= needs a template name (foo@.service), not {t:?}"),
            },
            _ => e,
        });
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(args: &[&str]) -> String {
        run(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn as_systemd_escape_prints_them() {
        // Outputs of systemd 252's systemd-escape.
        assert_eq!(
            esc(&["--template=ifup@.service", "eth0"]),
            "ifup@eth0.service"
        );
        // As Debian's ifupdown-hotplug calls it.
        assert_eq!(
            esc(&["--template", "ifup@.service", "eth0"]),
            "ifup@eth0.service"
        );
        assert_eq!(esc(&["--suffix", "service", "a"]), "a.service");
        assert_eq!(
            esc(&["-p", "--suffix=mount", "/var/lib/x"]),
            "var-lib-x.mount"
        );
        assert_eq!(esc(&["a b/c", ".x"]), "a\\x20b-c \\x2ex");
        assert_eq!(esc(&["-u", "a\\x20b-c"]), "a b/c");
        assert_eq!(esc(&["-u", "-p", "var-lib-x"]), "/var/lib/x");
        assert!(run(&["--template=ifup.service".into(), "x".into()]).is_err());
    }
}
