//! Unit names: kinds by suffix, templates (`foo@bar.service`), systemd's path escaping
//! (`/var/log` ↔ `var-log.mount`) and specifier expansion (`%i`, `%n`, `%t`, …).

use std::path::{Path, PathBuf};

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
    Slice,
    Swap,
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
            "slice" => UnitKind::Slice,
            "swap" => UnitKind::Swap,
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
            UnitKind::Slice => "slice",
            UnitKind::Swap => "swap",
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

/// Undoes systemd's name escaping (unit_name_unescape): `-` → `/`, `\xNN` → the byte.
/// `%I` of `postgresql@15-main.service` is `15/main`.
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
        out.push(if b[i] == b'-' { b'/' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unescapes a path-escaped string: `-` → `/`, then `\xNN`.
pub fn unescape_path(s: &str) -> String {
    if s == "-" {
        return "/".into();
    }
    format!("/{}", unescape(s))
}

/// What specifiers refer to beyond the unit's name: the manager's directories and
/// host names, and where the host's identity files are read.
#[derive(Debug, Clone)]
pub struct SpecifierDirs {
    pub runtime: String,
    pub state: String,
    pub cache: String,
    pub logs: String,
    pub hostname: String,
    /// The configuration directory the manager reads (`machine-id`, `machine-info`,
    /// `os-release`); `%E` is always `/etc`, as for systemd's system manager.
    pub etc_dir: PathBuf,
}

impl Default for SpecifierDirs {
    fn default() -> Self {
        SpecifierDirs {
            runtime: "/run".into(),
            state: "/var/lib".into(),
            cache: "/var/cache".into(),
            logs: "/var/log".into(),
            hostname: "localhost".into(),
            etc_dir: "/etc".into(),
        }
    }
}

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

fn read_id(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A `KEY=value` field of an env-style file such as os-release(5) or machine-info(5),
/// unquoted; empty when absent.
fn env_file_field(paths: &[PathBuf], key: &str) -> String {
    let Some(text) = paths.iter().find_map(|p| std::fs::read_to_string(p).ok()) else {
        return String::new();
    };
    text.lines()
        .rev()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v)
                .to_string()
        })
        .next()
        .unwrap_or_default()
}

/// Expands `%` specifiers (systemd.unit(5), "Specifiers") in a value of the unit
/// `name` whose fragment is `fragment`. The system manager runs as root, so `%u %U %g
/// %G %h %s` are root's. An unknown specifier is an error, as in systemd.
pub fn expand_specifiers(
    value: &str,
    name: &str,
    dirs: &SpecifierDirs,
    fragment: Option<&Path>,
) -> Result<String, String> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let (prefix, instance, _) = split(name);
    let instance = instance.unwrap_or("");
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let os_release = [
        dirs.etc_dir.join("os-release"),
        PathBuf::from("/usr/lib/os-release"),
    ];
    let os = |key: &str| env_file_field(&os_release, key);
    let short_host = dirs.hostname.split('.').next().unwrap_or("").to_string();
    let final_component = prefix.rsplit('-').next().unwrap_or(prefix);
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
            'j' => out.push_str(final_component),
            'J' => out.push_str(&unescape(final_component)),
            't' => out.push_str(&dirs.runtime),
            'S' => out.push_str(&dirs.state),
            'C' => out.push_str(&dirs.cache),
            'L' => out.push_str(&dirs.logs),
            'E' => out.push_str("/etc"),
            'T' => out.push_str("/tmp"),
            'V' => out.push_str("/var/tmp"),
            'd' => out.push_str(&format!("{}/credentials/{name}", dirs.runtime)),
            'H' => out.push_str(&dirs.hostname),
            'l' => out.push_str(&short_host),
            'q' => {
                let pretty =
                    env_file_field(&[dirs.etc_dir.join("machine-info")], "PRETTY_HOSTNAME");
                out.push_str(if pretty.is_empty() {
                    &short_host
                } else {
                    &pretty
                });
            }
            'h' => out.push_str("/root"),
            's' => out.push_str("/bin/sh"),
            'u' | 'g' => out.push_str("root"),
            'U' | 'G' => out.push('0'),
            'v' => out.push_str(&kernel_release()),
            'm' => out.push_str(&read_id(&dirs.etc_dir.join("machine-id"))),
            'b' => out
                .push_str(&read_id(Path::new("/proc/sys/kernel/random/boot_id")).replace('-', "")),
            'a' => out.push_str(std::env::consts::ARCH.replace('_', "-").as_str()),
            'o' => out.push_str(&os("ID")),
            'w' => out.push_str(&os("VERSION_ID")),
            'B' => out.push_str(&os("BUILD_ID")),
            'W' => out.push_str(&os("VARIANT_ID")),
            'M' => out.push_str(&os("IMAGE_ID")),
            'A' => out.push_str(&os("IMAGE_VERSION")),
            'y' | 'Y' => {
                let Some(f) = fragment else {
                    return Err(format!("%{spec} in {value:?}: the unit has no file"));
                };
                let p = if spec == 'y' {
                    f
                } else {
                    f.parent().unwrap_or(Path::new("/"))
                };
                out.push_str(&p.to_string_lossy());
            }
            _ => return Err(format!("unknown specifier %{spec} in {value:?}")),
        }
    }
    Ok(out)
}

/// The unit name a mount unit for `where_` must have.
pub fn mount_unit_name(where_: &Path) -> String {
    format!("{}.mount", escape_path(&where_.to_string_lossy()))
}

/// The `.swap` unit for a device or file (`/dev/vdb2` → `dev-vdb2.swap`).
pub fn swap_unit_name(what: &str) -> String {
    format!("{}.swap", escape_path(what))
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
        assert_eq!(unescape("15-main"), "15/main");
        assert_eq!(unescape("a\\x2db-c"), "a-b/c");
        assert_eq!(mount_unit_name(Path::new("/var/lib/x")), "var-lib-x.mount");
    }

    #[test]
    fn specifiers() {
        let d = SpecifierDirs::default();
        let e = |v: &str| expand_specifiers(v, "getty@tty\\x2d1.service", &d, None).unwrap();
        assert_eq!(
            e("%n %N %p %i %I %%"),
            "getty@tty\\x2d1.service getty@tty\\x2d1 getty tty\\x2d1 tty-1 %"
        );
        assert_eq!(e("%t/x %S %C"), "/run/x /var/lib /var/cache");
        // Debian's postgresql@.service: AssertPathExists=/etc/postgresql/%I/postgresql.conf.
        let pg = expand_specifiers(
            "/etc/postgresql/%I/x %i",
            "postgresql@15-main.service",
            &d,
            None,
        );
        assert_eq!(pg.unwrap(), "/etc/postgresql/15/main/x 15-main");
        assert!(expand_specifiers("%Q", "a.service", &d, None).is_err());
    }

    #[test]
    fn the_specifiers_debian_units_use_that_were_missing() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nVARIANT_ID='server'\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("machine-info"),
            "PRETTY_HOSTNAME=\"Kitchen box\"\n",
        )
        .unwrap();
        let d = SpecifierDirs {
            hostname: "box.example.org".into(),
            etc_dir: etc.clone(),
            ..SpecifierDirs::default()
        };
        let frag = root.path().join("units/foo-bar@.service");
        let e = |v: &str| expand_specifiers(v, "foo-bar\\x2dx@a.service", &d, Some(&frag)).unwrap();
        assert_eq!(
            e("%E %g %G %s %u %U %h"),
            "/etc root 0 /bin/sh root 0 /root"
        );
        assert_eq!(e("%d"), "/run/credentials/foo-bar\\x2dx@a.service");
        assert_eq!(e("%y"), frag.display().to_string());
        assert_eq!(e("%Y"), root.path().join("units").display().to_string());
        assert_eq!(e("%q|%H|%l"), "Kitchen box|box.example.org|box");
        assert_eq!(e("%o %w %W %B."), "debian 12 server .");
        assert_eq!(e("%j %J"), "bar\\x2dx bar-x");
        std::fs::remove_file(etc.join("machine-info")).unwrap();
        assert_eq!(e("%q"), "box");
        assert!(expand_specifiers("%y", "a.service", &d, None).is_err());
    }
}
