//! Unit names: kinds by suffix, templates (`foo@bar.service`), systemd's path escaping
//! (`/var/log` ↔ `var-log.mount`) and specifier expansion (`%i`, `%n`, `%t`, …).

use std::path::Path;

/// The kinds of unit b8g-init understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Service,
    Target,
    Socket,
    Mount,
    Timer,
    Path,
}

impl UnitKind {
    pub fn from_name(name: &str) -> Option<UnitKind> {
        let (_, suffix) = name.rsplit_once('.')?;
        Some(match suffix {
            "service" => UnitKind::Service,
            "target" => UnitKind::Target,
            "socket" => UnitKind::Socket,
            "mount" => UnitKind::Mount,
            "timer" => UnitKind::Timer,
            "path" => UnitKind::Path,
            _ => return None,
        })
    }
    pub fn suffix(self) -> &'static str {
        match self {
            UnitKind::Service => "service",
            UnitKind::Target => "target",
            UnitKind::Socket => "socket",
            UnitKind::Mount => "mount",
            UnitKind::Timer => "timer",
            UnitKind::Path => "path",
        }
    }
}

/// Checks a unit name: a known suffix, a non-empty prefix of safe characters and at
/// most one `@`.
pub fn validate(name: &str) -> Result<UnitKind, String> {
    let kind = UnitKind::from_name(name)
        .ok_or_else(|| format!("unit name {name:?} has no known suffix"))?;
    let (stem, _) = name.rsplit_once('.').expect("from_name found a dot");
    if stem.is_empty() || name.len() > 255 {
        return Err(format!("invalid unit name {name:?}"));
    }
    if !stem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
    {
        return Err(format!("unit name {name:?} contains invalid characters"));
    }
    if stem.matches('@').count() > 1 || stem.starts_with('@') {
        return Err(format!("invalid template or instance name {name:?}"));
    }
    Ok(kind)
}

/// Splits `foo@bar.service` into (`foo`, Some(`bar`), `service`).
pub fn split(name: &str) -> (&str, Option<&str>, &str) {
    let (stem, suffix) = name.rsplit_once('.').unwrap_or((name, ""));
    match stem.split_once('@') {
        Some((p, i)) => (p, Some(i), suffix),
        None => (stem, None, suffix),
    }
}

/// `foo@bar.service` → `foo@.service`; `None` for names without an instance.
pub fn template_of(name: &str) -> Option<String> {
    match split(name) {
        (p, Some(i), s) if !i.is_empty() => Some(format!("{p}@.{s}")),
        _ => None,
    }
}

/// systemd's string escaping for unit names (`systemd-escape`).
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// `systemd-escape --path`: `/var/log/` → `var-log`, `/` → `-`.
pub fn escape_path(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        return "-".into();
    }
    escape(trimmed)
}

/// Undoes `\xNN` escapes.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b.get(i + 1) == Some(&b'x') {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unescapes a path-escaped string: `-` → `/`, then `\xNN`.
pub fn unescape_path(s: &str) -> String {
    if s == "-" {
        return "/".into();
    }
    format!("/{}", unescape(&s.replace('-', "/")))
}

/// The directories specifiers refer to.
#[derive(Debug, Clone)]
pub struct SpecifierDirs {
    pub runtime: String,
    pub state: String,
    pub cache: String,
    pub logs: String,
    pub hostname: String,
}

impl Default for SpecifierDirs {
    fn default() -> Self {
        SpecifierDirs {
            runtime: "/run".into(),
            state: "/var/lib".into(),
            cache: "/var/cache".into(),
            logs: "/var/log".into(),
            hostname: "localhost".into(),
        }
    }
}

/// Expands `%` specifiers for the unit `name`.
/// The running kernel's release (`uname -r`), for `%v`.
fn kernel_release() -> String {
    // SAFETY: uname fills a zeroed struct; release is NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

fn read_id(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn expand_specifiers(value: &str, name: &str, dirs: &SpecifierDirs) -> Result<String, String> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let (prefix, instance, _) = split(name);
    let instance = instance.unwrap_or("");
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(format!("trailing % in {value:?}"));
        };
        match spec {
            '%' => out.push('%'),
            'n' => out.push_str(name),
            'N' => out.push_str(stem),
            'p' => out.push_str(prefix),
            'P' => out.push_str(&unescape(prefix)),
            'i' => out.push_str(instance),
            'I' => out.push_str(&unescape(instance)),
            'f' => out.push_str(&unescape_path(if instance.is_empty() {
                prefix
            } else {
                instance
            })),
            'j' => out.push_str(prefix.rsplit('-').next().unwrap_or(prefix)),
            't' => out.push_str(&dirs.runtime),
            'S' => out.push_str(&dirs.state),
            'C' => out.push_str(&dirs.cache),
            'L' => out.push_str(&dirs.logs),
            'T' => out.push_str("/tmp"),
            'V' => out.push_str("/var/tmp"),
            'H' | 'l' => out.push_str(&dirs.hostname),
            'h' => out.push_str("/root"),
            'u' => out.push_str("root"),
            'U' => out.push('0'),
            'v' => out.push_str(&kernel_release()),
            'm' => out.push_str(&read_id("/etc/machine-id")),
            'b' => out.push_str(&read_id("/proc/sys/kernel/random/boot_id").replace('-', "")),
            'a' => out.push_str(std::env::consts::ARCH.replace('_', "-").as_str()),
            _ => return Err(format!("unknown specifier %{spec} in {value:?}")),
        }
    }
    Ok(out)
}

/// The unit name a mount unit for `where_` must have.
pub fn mount_unit_name(where_: &Path) -> String {
    format!("{}.mount", escape_path(&where_.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_escaping() {
        assert_eq!(validate("foo@bar.service"), Ok(UnitKind::Service));
        assert!(validate("foo.exe").is_err());
        assert!(validate("a@b@c.service").is_err());
        assert_eq!(
            template_of("getty@tty1.service").as_deref(),
            Some("getty@.service")
        );
        assert_eq!(template_of("getty@.service"), None);
        assert_eq!(escape_path("/var/log/"), "var-log");
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("/a b/.c"), "a\\x20b-.c");
        assert_eq!(unescape_path("var-log"), "/var/log");
        assert_eq!(unescape("a\\x20b"), "a b");
        assert_eq!(mount_unit_name(Path::new("/var/lib/x")), "var-lib-x.mount");
    }

    #[test]
    fn specifiers() {
        let d = SpecifierDirs::default();
        let e = |v: &str| expand_specifiers(v, "getty@tty\\x2d1.service", &d).unwrap();
        assert_eq!(
            e("%n %N %p %i %I %%"),
            "getty@tty\\x2d1.service getty@tty\\x2d1 getty tty\\x2d1 tty-1 %"
        );
        assert_eq!(e("%t/x %S %C"), "/run/x /var/lib /var/cache");
        assert!(expand_specifiers("%Q", "a.service", &d).is_err());
    }
}
