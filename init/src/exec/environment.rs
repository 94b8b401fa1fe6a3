//! Environment of a spawned command: `$VAR`/`${VAR}` in command lines as
//! systemd.service(5) expands them, and `EnvironmentFile=`.

use super::*;

/// The most an `EnvironmentFile=` may hold.
pub const ENV_FILE_MAX: usize = 1 << 20;

/// Expands variables in the words of a command as systemd.service(5) "Command lines"
/// says: a word that is exactly `$VAR` becomes the variable's value split at
/// whitespace (quotes respected, then removed), zero words when unset or empty;
/// `${VAR}` anywhere in a word becomes the value as is (empty when unset); `$$` is a
/// dollar sign. Anything else stays as written: `$VAR` inside a word, and `${VAR:-x}`
/// (systemd has no such syntax on command lines).
pub fn expand_argv(argv: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let mut out = Vec::new();
    for w in argv {
        if let Some(name) = w.strip_prefix('$') {
            if !name.starts_with(['{', '$']) {
                if let Some(v) = lookup(name) {
                    out.extend(crate::unit::parse::split_variable_value(v));
                }
                continue;
            }
        }
        out.push(replace_braced(w, &lookup));
    }
    out
}

/// `${VAR}` and `$$` within one word (systemd's `replace_env` without extensions).
pub(super) fn replace_braced<'a>(w: &str, lookup: &impl Fn(&str) -> Option<&'a str>) -> String {
    let mut s = String::with_capacity(w.len());
    let mut rest = w;
    while let Some(at) = rest.find('$') {
        s.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            s.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find(['}', ':']) {
                Some(end) if body.as_bytes()[end] == b'}' => {
                    s.push_str(lookup(&body[..end]).unwrap_or(""));
                    rest = &body[end + 1..];
                }
                // `${VAR:…}` is not command-line syntax, and `${VAR` is unterminated:
                // both stay as written (up to the colon; the rest is read on).
                Some(colon) => {
                    s.push_str(&rest[at..at + 2 + colon + 1]);
                    rest = &body[colon + 1..];
                }
                None => {
                    s.push_str(&rest[at..]);
                    rest = "";
                }
            }
        } else {
            s.push('$');
            rest = after;
        }
    }
    s.push_str(rest);
    s
}

/// Reads `KEY=VALUE` lines (comments, blank lines and `export` allowed; quotes removed).
///
/// PID 1 reads it, and it may sit in a directory the service writes: only a regular
/// file of at most [`ENV_FILE_MAX`] bytes, never a FIFO or device (see [`crate::safefs`]).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, crate::safefs::SafeFsError> {
    let text = crate::safefs::read_regular(path, ENV_FILE_MAX)?;
    let mut v = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        if let Some((k, val)) = l.split_once('=') {
            let val = val.trim();
            let val = val
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| val.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(val);
            v.push((k.trim().to_string(), val.to_string()));
        }
    }
    Ok(v)
}
