//! Regenerating `recipes/bootstrap/pins.nix` (`b8g bootstrap lock`).
//!
//! The file is a flat attribute set of entries written one field a line:
//! binary pins `{ package; version; sha256; }` and source pins
//! `{ source; version; file; sha256; }`. Locking asks apt for the current
//! candidate of each pinned name and rewrites only the `version`, `sha256`
//! (and, for sources, `file`) lines, so comments and other fields
//! (`kernelVersion`) stay as they are. apt is asked through [`PinResolver`],
//! so the rewriting is tested without the network.

use super::deb_source::SourceApt;
use super::BuiltinError;
use std::cell::OnceCell;
use std::process::Command;

/// Why locking failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("pins.nix line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error("cannot resolve {what}: {msg}")]
    Resolve { what: String, msg: String },
    #[error(transparent)]
    Apt(#[from] BuiltinError),
}

/// The current candidate of a pinned name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub version: String,
    /// For source pins: the file the pin names (same kind as before, e.g. the `.orig.tar.*`).
    pub file: Option<String>,
    pub sha256: String,
}

/// Where current versions and hashes come from.
pub trait PinResolver {
    /// The candidate version of binary package `package` and its `.deb`'s sha256.
    fn binary(&self, package: &str) -> Result<Resolved, LockError>;
    /// The candidate version of source package `source` and the sha256 of its
    /// file playing the role `old_file` played (same name with the old version
    /// replaced, or the same suffix kind).
    fn source(&self, source: &str, old_file: &str) -> Result<Resolved, LockError>;
    /// Whether the archive still serves exactly what `pin` names (its version,
    /// with its sha256).
    fn serves(&self, pin: &Pin) -> Result<bool, LockError>;
    /// The package the candidate of metapackage `meta` depends on first.
    fn depends_on(&self, meta: &str) -> Result<String, LockError>;
}

/// One pin whose version or hash changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    pub name: String,
    pub old_version: String,
    pub new_version: String,
}

/// What a pin names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinKind {
    /// A binary package's `.deb`.
    Binary { package: String },
    /// One file of a source package.
    Source { source: String, file: String },
}

/// One entry of a pins file, with the lines it occupies (so a lock rewrites
/// only its values and an override copies it whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The attribute name (`linux-image`, `nginx`, …).
    pub name: String,
    pub kind: PinKind,
    pub version: String,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
    /// First and last line (0-based) of the entry, `name = {` to `};`.
    lines: (usize, usize),
    version_line: usize,
    sha256_line: usize,
    file_line: Option<usize>,
    /// `follows = "<metapackage>"`: the package is whichever the
    /// metapackage depends on now (the kernel's ABI is in its package name),
    /// with `package` and `kernelVersion` rewritten on refresh.
    follows: Option<String>,
    package_line: Option<usize>,
    kernel_version_line: Option<usize>,
}

impl Pin {
    /// The package (binary or source) the pin names.
    pub fn package(&self) -> &str {
        match &self.kind {
            PinKind::Binary { package } => package,
            PinKind::Source { source, .. } => source,
        }
    }

    /// The store name of the fixed-output path holding the file: what
    /// `recipes/bootstrap` calls the fetch (`<package>.deb`, or the file name).
    pub fn store_name(&self) -> String {
        match &self.kind {
            PinKind::Binary { package } => format!("{package}.deb"),
            PinKind::Source { file, .. } => file.clone(),
        }
    }

    /// Whether `selector` names this pin (its attribute name or its package).
    pub fn is_named(&self, selector: &str) -> bool {
        self.name == selector || self.package() == selector
    }
}

#[derive(Default)]
struct Entry {
    name: String,
    start: usize,
    package: Option<String>,
    source: Option<String>,
    version: Option<(usize, String)>,
    sha256: Option<(usize, String)>,
    file: Option<(usize, String)>,
    follows: Option<String>,
    package_line: Option<usize>,
    kernel_version_line: Option<usize>,
}

impl Entry {
    fn finish(self, end: usize) -> Result<Pin, LockError> {
        let missing = |what: &str| LockError::Parse {
            line: self.start + 1,
            msg: format!("entry {} has no {what}", self.name),
        };
        let (version_line, version) = self.version.clone().ok_or_else(|| missing("version"))?;
        let (sha256_line, sha256) = self.sha256.clone().ok_or_else(|| missing("sha256"))?;
        let kind = match (&self.package, &self.source, &self.file) {
            (Some(package), None, _) => PinKind::Binary {
                package: package.clone(),
            },
            (None, Some(source), Some((_, file))) => PinKind::Source {
                source: source.clone(),
                file: file.clone(),
            },
            (None, Some(_), None) => return Err(missing("file")),
            _ => return Err(missing("package or source (exactly one)")),
        };
        Ok(Pin {
            name: self.name,
            kind,
            version,
            sha256,
            lines: (self.start, end),
            version_line,
            sha256_line,
            file_line: self.file.map(|(l, _)| l),
            follows: self.follows,
            package_line: self.package_line,
            kernel_version_line: self.kernel_version_line,
        })
    }
}

/// The value of a `key = "value";` line.
fn string_field(line: &str, key: &str) -> Option<String> {
    let t = line.trim();
    let rest = t.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
    let inner = rest
        .strip_suffix(';')?
        .trim()
        .strip_prefix('"')?
        .strip_suffix('"')?;
    Some(inner.to_owned())
}

/// The same line with its string value replaced (indentation kept).
fn replace_value(line: &str, key: &str, value: &str) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    format!("{indent}{key} = \"{value}\";")
}

/// The entries of a pins file (a flat attribute set, one field a line).
pub fn parse_pins(text: &str) -> Result<Vec<Pin>, LockError> {
    let mut pins = Vec::new();
    let mut cur: Option<Entry> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if let Some(head) = t.strip_suffix("= {") {
            if cur.is_some() {
                return Err(LockError::Parse {
                    line: i + 1,
                    msg: "nested attribute sets are not expected in pins".into(),
                });
            }
            cur = Some(Entry {
                name: head.trim().trim_matches('"').to_owned(),
                start: i,
                ..Entry::default()
            });
            continue;
        }
        let Some(e) = cur.as_mut() else { continue };
        if t == "};" {
            pins.push(cur.take().expect("checked above").finish(i)?);
            continue;
        }
        if let Some(v) = string_field(t, "package") {
            e.package = Some(v);
            e.package_line = Some(i);
        } else if let Some(v) = string_field(t, "follows") {
            e.follows = Some(v);
        } else if string_field(t, "kernelVersion").is_some() {
            e.kernel_version_line = Some(i);
        } else if let Some(v) = string_field(t, "source") {
            e.source = Some(v);
        } else if let Some(v) = string_field(t, "version") {
            e.version = Some((i, v));
        } else if let Some(v) = string_field(t, "file") {
            e.file = Some((i, v));
        } else if let Some(v) = string_field(t, "sha256") {
            e.sha256 = Some((i, v));
        }
    }
    if cur.is_some() {
        return Err(LockError::Parse {
            line: text.lines().count(),
            msg: "unterminated entry".into(),
        });
    }
    Ok(pins)
}

/// Rewrites `text` (a pins.nix) with the versions and hashes `resolver` gives;
/// returns the new text and the pins whose version changed.
pub fn lock_pins(
    text: &str,
    resolver: &dyn PinResolver,
) -> Result<(String, Vec<PinChange>), LockError> {
    lock_selected(text, resolver, None)
}

/// As [`lock_pins`], for only the pins `only` names (by attribute or package
/// name; a name that matches no pin is an error).
pub fn lock_selected(
    text: &str,
    resolver: &dyn PinResolver,
    only: Option<&[String]>,
) -> Result<(String, Vec<PinChange>), LockError> {
    let pins = parse_pins(text)?;
    if let Some(only) = only {
        if let Some(unknown) = only.iter().find(|s| !pins.iter().any(|p| p.is_named(s))) {
            return Err(LockError::Parse {
                line: 0,
                msg: format!("no pin is called {unknown}"),
            });
        }
    }
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut changes = Vec::new();
    for pin in pins
        .iter()
        .filter(|p| only.is_none_or(|o| o.iter().any(|s| p.is_named(s))))
    {
        let resolved = match (&pin.kind, &pin.follows) {
            (PinKind::Binary { package }, Some(meta)) => {
                let now = resolver.depends_on(meta)?;
                if &now != package {
                    if let Some(l) = pin.package_line {
                        lines[l] = replace_value(&lines[l], "package", &now);
                    }
                    // `linux-image-<kernel version>`: the version modules live under.
                    if let (Some(l), Some(kv)) =
                        (pin.kernel_version_line, now.strip_prefix("linux-image-"))
                    {
                        lines[l] = replace_value(&lines[l], "kernelVersion", kv);
                    }
                }
                resolver.binary(&now)?
            }
            (PinKind::Binary { package }, None) => resolver.binary(package)?,
            (PinKind::Source { source, file }, _) => resolver.source(source, file)?,
        };
        let v = pin.version_line;
        lines[v] = replace_value(&lines[v], "version", &resolved.version);
        let h = pin.sha256_line;
        lines[h] = replace_value(&lines[h], "sha256", &resolved.sha256);
        if let (Some(f), Some(file)) = (pin.file_line, &resolved.file) {
            lines[f] = replace_value(&lines[f], "file", file);
        }
        if resolved.version != pin.version {
            changes.push(PinChange {
                name: pin.name.clone(),
                old_version: pin.version.clone(),
                new_version: resolved.version,
            });
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok((out, changes))
}

/// A pins file holding only the entries `names` of `text`, copied whole: the
/// local override `recipes/bootstrap` lays over the committed lock.
pub fn override_text(text: &str, names: &[String], header: &str) -> Result<String, LockError> {
    let pins = parse_pins(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for l in header.lines() {
        out.push_str("# ");
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("{\n");
    for pin in pins.iter().filter(|p| names.contains(&p.name)) {
        for l in &lines[pin.lines.0..=pin.lines.1] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str("}\n");
    Ok(out)
}

/// Resolves pins with the host's apt (`apt-cache`; for sources, a private
/// configuration with `deb-src` entries, set up on first use).
#[derive(Default)]
pub struct AptResolver {
    sources: OnceCell<SourceApt>,
}

fn run(mut c: Command, what: &str) -> Result<String, LockError> {
    let out = c.output().map_err(|e| LockError::Resolve {
        what: what.to_owned(),
        msg: format!("cannot run apt: {e}"),
    })?;
    if !out.status.success() {
        return Err(LockError::Resolve {
            what: what.to_owned(),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The value of `Field:` in the first stanza of a control-file text.
fn control_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.split("\n\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then_some(v.trim())
    })
}

/// `1:2.3-4` → `2.3-4`: file names carry no epoch.
fn strip_epoch(v: &str) -> &str {
    v.split_once(':').map_or(v, |(_, r)| r)
}

impl AptResolver {
    fn sources(&self) -> Result<&SourceApt, LockError> {
        if let Some(s) = self.sources.get() {
            return Ok(s);
        }
        let s = SourceApt::new()?;
        Ok(self.sources.get_or_init(|| s))
    }
}

impl PinResolver for AptResolver {
    fn binary(&self, package: &str) -> Result<Resolved, LockError> {
        let what = format!("binary package {package}");
        let mut c = Command::new("apt-cache");
        c.args(["show", "--no-all-versions", package]);
        let text = run(c, &what)?;
        let field = |f: &str| {
            control_field(&text, f)
                .map(str::to_owned)
                .ok_or_else(|| LockError::Resolve {
                    what: what.clone(),
                    msg: format!("apt-cache show gave no {f} field (run apt-get update?)"),
                })
        };
        Ok(Resolved {
            version: field("Version")?,
            file: None,
            sha256: field("SHA256")?,
        })
    }

    fn source(&self, source: &str, old_file: &str) -> Result<Resolved, LockError> {
        let what = format!("source package {source}");
        let apt = self.sources()?;
        // The candidate apt would fetch: its .dsc name gives the version (without epoch).
        let mut c = apt.apt_get();
        c.args(["source", "-q", "--print-uris", source]);
        let uris = run(c, &what)?;
        // Lines: 'URI' name size SHA256:hex
        let files: Vec<(String, String)> = uris
            .lines()
            .filter(|l| l.starts_with('\''))
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let _uri = it.next()?;
                let name = it.next()?.to_owned();
                let _size = it.next()?;
                let hash = it.next()?.strip_prefix("SHA256:")?.to_owned();
                Some((name, hash))
            })
            .collect();
        let dsc = files
            .iter()
            .find(|(n, _)| n.ends_with(".dsc"))
            .ok_or_else(|| LockError::Resolve {
                what: what.clone(),
                msg: format!("apt-get source --print-uris named no .dsc with a SHA256:\n{uris}"),
            })?;
        let bare = dsc
            .0
            .strip_prefix(&format!("{source}_"))
            .and_then(|r| r.strip_suffix(".dsc"))
            .unwrap_or_default()
            .to_owned();
        // The full version (with any epoch) from the Sources index.
        let mut c = apt.apt_cache();
        c.args(["showsrc", "--only-source", source]);
        let showsrc = run(c, &what)?;
        let version = showsrc
            .lines()
            .filter_map(|l| l.strip_prefix("Version:").map(str::trim))
            .find(|v| strip_epoch(v) == bare)
            .ok_or_else(|| LockError::Resolve {
                what: what.clone(),
                msg: format!("apt-cache showsrc lists no version {bare}"),
            })?
            .to_owned();
        // The file of the same kind: `.orig.tar.*`, `.debian.tar.*`, `.dsc`, or a native `.tar.*`.
        let kind = |n: &str| -> &'static str {
            if n.contains(".orig.tar.") {
                "orig"
            } else if n.contains(".debian.tar.") {
                "debian"
            } else if n.ends_with(".dsc") {
                "dsc"
            } else if n.contains(".orig-") {
                "orig-component"
            } else {
                "tar"
            }
        };
        let (file, sha256) = files
            .iter()
            .find(|(n, _)| kind(n) == kind(old_file) && !n.ends_with(".asc"))
            .cloned()
            .ok_or_else(|| LockError::Resolve {
                what: what.clone(),
                msg: format!("no file like {old_file} among {files:?}"),
            })?;
        Ok(Resolved {
            version,
            file: Some(file),
            sha256,
        })
    }

    fn depends_on(&self, meta: &str) -> Result<String, LockError> {
        let what = format!("metapackage {meta}");
        let mut c = Command::new("apt-cache");
        c.args(["show", "--no-all-versions", meta]);
        let text = run(c, &what)?;
        control_field(&text, "Depends")
            .and_then(|d| d.split([',', '|', ' ', '(']).find(|w| !w.is_empty()))
            .map(str::to_owned)
            .ok_or_else(|| LockError::Resolve {
                what,
                msg: "apt-cache show gave no Depends field".into(),
            })
    }

    fn serves(&self, pin: &Pin) -> Result<bool, LockError> {
        let wanted = format!("{}={}", pin.package(), pin.version);
        match &pin.kind {
            PinKind::Binary { .. } => {
                let mut c = Command::new("apt-cache");
                c.args(["show", &wanted]);
                // apt-cache fails when it knows no such version: not served.
                let Ok(text) = run(c, &wanted) else {
                    return Ok(false);
                };
                // Several stanzas when several archives list the version.
                Ok(text.lines().any(|l| {
                    l.strip_prefix("SHA256:")
                        .is_some_and(|h| h.trim().eq_ignore_ascii_case(&pin.sha256))
                }))
            }
            PinKind::Source { file, .. } => {
                let mut c = self.sources()?.apt_get();
                c.args(["source", "-q", "--print-uris", &wanted]);
                let Ok(uris) = run(c, &wanted) else {
                    return Ok(false);
                };
                let line = format!(" {file} ");
                let hash = format!("SHA256:{}", pin.sha256.to_ascii_lowercase());
                Ok(uris.lines().any(|l| l.contains(&line) && l.contains(&hash)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl PinResolver for Fake {
        fn binary(&self, package: &str) -> Result<Resolved, LockError> {
            Ok(Resolved {
                version: format!("9.9-{package}"),
                file: None,
                sha256: "ab".repeat(32),
            })
        }
        fn source(&self, source: &str, _old: &str) -> Result<Resolved, LockError> {
            Ok(Resolved {
                version: "3.0-1".into(),
                file: Some(format!("{source}_3.0.orig.tar.gz")),
                sha256: "cd".repeat(32),
            })
        }
        fn serves(&self, pin: &Pin) -> Result<bool, LockError> {
            Ok(pin.version.starts_with("9.9"))
        }
        fn depends_on(&self, meta: &str) -> Result<String, LockError> {
            Ok(format!(
                "{}-6.1.0-99-amd64",
                meta.trim_end_matches("-amd64")
            ))
        }
    }

    #[test]
    fn rewrites_only_versions_hashes_and_files() {
        let text = "# header\n{\n  busybox-static = {\n    package = \"busybox-static\";\n    version = \"1:1.35\";\n    sha256 = \"00\";\n  };\n  \"libstdc++6\" = {\n    package = \"libstdc++6\";\n    version = \"9.9-libstdc++6\";\n    sha256 = \"11\";\n    kernelVersion = \"x\";\n  };\n  hello-source = {\n    source = \"hello\";\n    version = \"2.10-3\";\n    file = \"hello_2.10.orig.tar.gz\";\n    sha256 = \"22\";\n  };\n}\n";
        let (out, changes) = lock_pins(text, &Fake).expect("lock");
        let ab = "ab".repeat(32);
        let cd = "cd".repeat(32);
        let expected = format!("# header\n{{\n  busybox-static = {{\n    package = \"busybox-static\";\n    version = \"9.9-busybox-static\";\n    sha256 = \"{ab}\";\n  }};\n  \"libstdc++6\" = {{\n    package = \"libstdc++6\";\n    version = \"9.9-libstdc++6\";\n    sha256 = \"{ab}\";\n    kernelVersion = \"x\";\n  }};\n  hello-source = {{\n    source = \"hello\";\n    version = \"3.0-1\";\n    file = \"hello_3.0.orig.tar.gz\";\n    sha256 = \"{cd}\";\n  }};\n}}\n");
        assert_eq!(out, expected);
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["busybox-static", "hello-source"]);
    }

    #[test]
    fn lock_only_some_and_write_an_override_of_them() {
        let text = "{\n  a = {\n    package = \"pa\";\n    version = \"1\";\n    sha256 = \"00\";\n  };\n  # kept\n  b = {\n    package = \"pb\";\n    version = \"2\";\n    sha256 = \"11\";\n    kernelVersion = \"k\";\n  };\n}\n";
        // By package name; `a` stays as it was.
        let (new, changes) = lock_selected(text, &Fake, Some(&["pb".to_owned()])).expect("lock");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name, "b");
        assert!(new.contains("version = \"1\";"), "{new}");
        assert!(new.contains("version = \"9.9-pb\";"), "{new}");
        let over = override_text(&new, &["b".to_owned()], "refreshed").expect("override");
        let ab = "ab".repeat(32);
        assert_eq!(
            over,
            format!("# refreshed\n{{\n  b = {{\n    package = \"pb\";\n    version = \"9.9-pb\";\n    sha256 = \"{ab}\";\n    kernelVersion = \"k\";\n  }};\n}}\n")
        );
        let pins = parse_pins(&over).expect("the override is a pins file");
        assert_eq!(pins.len(), 1);
        assert!(Fake.serves(&pins[0]).expect("fake"));
        assert_eq!(pins[0].store_name(), "pb.deb");
        // A name that is no pin is refused rather than ignored.
        assert!(lock_selected(text, &Fake, Some(&["nope".to_owned()])).is_err());
    }

    #[test]
    fn a_followed_kernel_moves_to_the_metapackages_new_abi() {
        let text = "{\n  linux-image = {\n    package = \"linux-image-6.1.0-56-amd64\";\n    follows = \"linux-image-amd64\";\n    version = \"6.1.1-2\";\n    sha256 = \"00\";\n    kernelVersion = \"6.1.0-56-amd64\";\n  };\n}\n";
        let (new, changes) = lock_pins(text, &Fake).expect("lock");
        assert_eq!(changes.len(), 1);
        let pins = parse_pins(&new).expect("parse");
        assert_eq!(pins[0].package(), "linux-image-6.1.0-99-amd64");
        assert_eq!(pins[0].version, "9.9-linux-image-6.1.0-99-amd64");
        assert!(new.contains("kernelVersion = \"6.1.0-99-amd64\";"), "{new}");
        assert!(new.contains("follows = \"linux-image-amd64\";"), "{new}");
    }

    #[test]
    fn entry_without_hash_is_an_error() {
        let text = "{\n  a = {\n    package = \"a\";\n    version = \"1\";\n  };\n}\n";
        assert!(lock_pins(text, &Fake).is_err());
    }
}
