//! Unit files on disk as systemctl's install operations see them: a unit's file state
//! (`is-enabled`: enabled, disabled, static, masked, alias, indirect, ...), `enable`
//! and `disable` by the `[Install]` section (WantedBy=, RequiredBy=, Alias=, Also=,
//! DefaultInstance=), `mask`/`unmask` by /dev/null symlinks, `get-default` and
//! `set-default`, the files `cat` shows. Everything works on a list of unit directories
//! under a root, so `--root=DIR` edits an offline tree the same way.
//!
//! This does not talk to PID 1 and loads no unit: b8gctl reloads b8g-init afterwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::unit::ini::RawUnit;
use crate::unit::name::{self, UnitKind};

/// The unit directories of one system, and where changes go.
#[derive(Debug, Clone)]
pub struct UnitFiles {
    /// The search path, highest priority first.
    pub dirs: Vec<PathBuf>,
    /// Where enable, disable, mask and set-default write: `/etc/systemd/system`
    /// (`/run/systemd/system` with `--runtime`).
    pub config_dir: PathBuf,
    /// Symlink targets are written as seen from inside this root (`--root=`).
    pub root: PathBuf,
    /// A b8g generation: a unit with `[Install]` rules is enabled by being there.
    pub install_enables: bool,
}

/// What `systemctl is-enabled` prints (systemctl(1), "is-enabled").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFileState {
    Enabled,
    EnabledRuntime,
    Alias,
    Static,
    Indirect,
    Disabled,
    Masked,
    MaskedRuntime,
}

impl UnitFileState {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitFileState::Enabled => "enabled",
            UnitFileState::EnabledRuntime => "enabled-runtime",
            UnitFileState::Alias => "alias",
            UnitFileState::Static => "static",
            UnitFileState::Indirect => "indirect",
            UnitFileState::Disabled => "disabled",
            UnitFileState::Masked => "masked",
            UnitFileState::MaskedRuntime => "masked-runtime",
        }
    }

    /// Whether `is-enabled` exits 0 for this state.
    pub fn counts_as_enabled(self) -> bool {
        matches!(
            self,
            UnitFileState::Enabled
                | UnitFileState::EnabledRuntime
                | UnitFileState::Alias
                | UnitFileState::Static
                | UnitFileState::Indirect
        )
    }
}

/// A change made on disk, printed as systemctl prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Symlink { link: PathBuf, target: PathBuf },
    Removed(PathBuf),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Symlink { link, target } => write!(
                f,
                "Created symlink {} \u{2192} {}.",
                link.display(),
                target.display()
            ),
            Change::Removed(p) => write!(f, "Removed \"{}\".", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnitFileError {
    #[error("Unit file {0} does not exist.")]
    NotFound(String),
    #[error("Unit file {0} is masked.")]
    Masked(String),
    #[error("invalid unit name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("File {0} already exists.")]
    Exists(PathBuf),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a unit name leads in the search path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The unit file (for an instance, its template's; for an alias, its target's).
    pub fragment: Option<PathBuf>,
    /// The /dev/null symlink that masks the name.
    pub mask: Option<PathBuf>,
    /// Set when the name is a symlink to another unit's name.
    pub alias_of: Option<String>,
}

/// `[Install]` of a unit file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallInfo {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub alias: Vec<String>,
    pub also: Vec<String>,
    pub default_instance: Option<String>,
}

impl InstallInfo {
    fn has_rules(&self) -> bool {
        !(self.wanted_by.is_empty() && self.required_by.is_empty() && self.alias.is_empty())
    }
}

/// What `enable` did: the changes, and the units that had nothing to install.
#[derive(Debug, Default)]
pub struct EnableReport {
    pub changes: Vec<Change>,
    pub no_install: Vec<String>,
}

const DEP_DIRS: &[&str] = &[".wants", ".requires", ".upholds"];

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> UnitFileError {
    let path = path.to_path_buf();
    move |source| UnitFileError::Io { op, path, source }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn is_null_link(p: &Path) -> bool {
    std::fs::read_link(p).is_ok_and(|t| t == Path::new("/dev/null"))
}

impl UnitFiles {
    /// systemd's system search path under `root` (`/` when online, `--root=DIR` offline).
    pub fn under_root(root: &Path) -> UnitFiles {
        let dirs = [
            "etc/systemd/system",
            "run/systemd/system",
            "usr/local/lib/systemd/system",
            "usr/lib/systemd/system",
            "lib/systemd/system",
        ]
        .iter()
        .map(|d| root.join(d))
        .collect();
        UnitFiles {
            dirs,
            config_dir: root.join("etc/systemd/system"),
            root: root.to_path_buf(),
            install_enables: false,
        }
    }

    /// The unit directories a running b8g-init reads: changes go to the one that is
    /// `.../etc/systemd/system`, else the first.
    pub fn from_dirs(dirs: Vec<PathBuf>, install_enables: bool) -> UnitFiles {
        let config_dir = dirs
            .iter()
            .find(|d| d.ends_with("etc/systemd/system"))
            .or(dirs.first())
            .cloned()
            .unwrap_or_else(|| "/etc/systemd/system".into());
        UnitFiles {
            dirs,
            config_dir,
            root: "/".into(),
            install_enables,
        }
    }

    /// `--runtime`: changes go to `/run/systemd/system` and last until reboot.
    pub fn runtime(mut self) -> UnitFiles {
        self.config_dir = self.root.join("run/systemd/system");
        self
    }

    /// `path` as seen from inside the root.
    fn in_root(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => path.to_path_buf(),
        }
    }

    fn is_runtime(&self, path: &Path) -> bool {
        self.in_root(path).starts_with("/run")
    }

    /// Directories whose links enable units: the configuration (`/etc`) and runtime
    /// (`/run`) ones, not the vendor ones (`/usr/lib`, `/lib`), as in systemd.
    fn link_dirs(&self) -> Vec<&PathBuf> {
        self.dirs
            .iter()
            .filter(|d| {
                let r = self.in_root(d);
                !(r.starts_with("/usr") || r.starts_with("/lib"))
            })
            .collect()
    }

    fn check_name(name: &str) -> Result<(), UnitFileError> {
        name::validate(name)
            .map(|_| ())
            .map_err(|reason| UnitFileError::InvalidName {
                name: name.to_string(),
                reason,
            })
    }

    /// Follows `name` through the search path: the first directory that has it wins.
    pub fn lookup(&self, name: &str) -> Lookup {
        self.lookup_at(name, 0)
    }

    fn lookup_at(&self, name: &str, depth: usize) -> Lookup {
        // Aliases of aliases are fine; a loop of symlinks is not a unit.
        if depth > 8 {
            return Lookup::default();
        }
        for dir in &self.dirs {
            let p = dir.join(name);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if is_null_link(&p) {
                    return Lookup {
                        mask: Some(p),
                        ..Lookup::default()
                    };
                }
                let target = std::fs::read_link(&p).map(|t| file_name(&t));
                if let Ok(t) = target {
                    if t != name && UnitKind::from_name(&t) == UnitKind::from_name(name) {
                        let mut l = self.lookup_at(&t, depth + 1);
                        if l.fragment.is_none() && p.is_file() {
                            l.fragment = Some(p);
                        }
                        l.alias_of = Some(t);
                        return l;
                    }
                }
            }
            if p.is_file() {
                return Lookup {
                    fragment: Some(p),
                    ..Lookup::default()
                };
            }
        }
        match name::template_of(name) {
            Some(t) => {
                let mut l = self.lookup_at(&t, depth + 1);
                l.alias_of = None;
                l
            }
            None => Lookup::default(),
        }
    }

    /// The `[Install]` section of a unit file, with `%n %N %p %i %%` expanded for `name`.
    pub fn install_info(fragment: &Path, name: &str) -> Result<InstallInfo, UnitFileError> {
        let bytes = std::fs::read(fragment).map_err(io("read", fragment))?;
        let mut raw = RawUnit::default();
        // Syntax errors elsewhere in the file do not stop enabling it, as in systemd.
        let _ = raw.add_source(fragment, &String::from_utf8_lossy(&bytes));
        let (prefix, instance, _) = name::split(name);
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let expand = |v: &str| -> String {
            let mut out = String::new();
            let mut chars = v.chars();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push_str(name),
                    Some('N') => out.push_str(stem),
                    Some('p') => out.push_str(prefix),
                    Some('i') => out.push_str(instance.unwrap_or("")),
                    Some('%') => out.push('%'),
                    Some(o) => {
                        out.push('%');
                        out.push(o);
                    }
                    None => out.push('%'),
                }
            }
            out
        };
        let mut info = InstallInfo::default();
        for e in raw.entries.iter().filter(|e| e.section == "Install") {
            let list = match e.key.as_str() {
                "WantedBy" => &mut info.wanted_by,
                "RequiredBy" => &mut info.required_by,
                "Alias" => &mut info.alias,
                "Also" => &mut info.also,
                "DefaultInstance" => {
                    info.default_instance = Some(e.value.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .map(|s| expand(&s));
                    continue;
                }
                _ => continue,
            };
            if e.value.trim().is_empty() {
                list.clear();
            } else {
                list.extend(e.value.split_whitespace().map(expand));
            }
        }
        Ok(info)
    }

    /// Symlinks in the enabling directories (`X.wants/`, `X.requires/`, `X.upholds/`
    /// and top-level aliases) that stand for `name`: named after it (or, for a template,
    /// after one of its instances), or Alias= names pointing at its file.
    fn links_for(&self, dirs: &[&PathBuf], name: &str, aliases: &[String]) -> Vec<PathBuf> {
        let template = name::split(name).1 == Some("");
        let matches = |n: &str| {
            n == name
                || aliases.iter().any(|a| a == n)
                || (template && name::template_of(n).as_deref() == Some(name))
        };
        let mut found = Vec::new();
        for dir in dirs {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                let fname = file_name(&p);
                let is_link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_symlink());
                if DEP_DIRS.iter().any(|s| fname.ends_with(s)) && p.is_dir() {
                    let mut inner: Vec<PathBuf> = std::fs::read_dir(&p)
                        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                        .unwrap_or_default();
                    inner.sort();
                    for q in inner {
                        let is_link = std::fs::symlink_metadata(&q).is_ok_and(|m| m.is_symlink());
                        if is_link && !is_null_link(&q) && matches(&file_name(&q)) {
                            found.push(q);
                        }
                    }
                } else if is_link && fname != name && aliases.contains(&fname) && !is_null_link(&p)
                {
                    found.push(p);
                }
            }
        }
        found
    }

    /// `systemctl is-enabled NAME`.
    pub fn state(&self, name: &str) -> Result<UnitFileState, UnitFileError> {
        Self::check_name(name)?;
        let l = self.lookup(name);
        if let Some(m) = &l.mask {
            return Ok(if self.is_runtime(m) {
                UnitFileState::MaskedRuntime
            } else {
                UnitFileState::Masked
            });
        }
        let Some(fragment) = &l.fragment else {
            return Err(UnitFileError::NotFound(name.to_string()));
        };
        let is_instance = name::template_of(name).is_some();
        if l.alias_of.is_some() && !is_instance {
            return Ok(UnitFileState::Alias);
        }
        let info = Self::install_info(fragment, name)?;
        if self.install_enables && info.has_rules() {
            return Ok(UnitFileState::Enabled);
        }
        let links = self.links_for(&self.link_dirs(), name, &info.alias);
        if !links.is_empty() {
            return Ok(if links.iter().all(|p| self.is_runtime(p)) {
                UnitFileState::EnabledRuntime
            } else {
                UnitFileState::Enabled
            });
        }
        Ok(if info.has_rules() {
            UnitFileState::Disabled
        } else if !info.also.is_empty() {
            UnitFileState::Indirect
        } else {
            UnitFileState::Static
        })
    }

    fn symlink(&self, link: &Path, target: &Path) -> Result<Option<Change>, UnitFileError> {
        if let Ok(existing) = std::fs::read_link(link) {
            if existing == target {
                return Ok(None);
            }
            return Err(UnitFileError::Exists(link.to_path_buf()));
        }
        if link.exists() {
            return Err(UnitFileError::Exists(link.to_path_buf()));
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
        }
        std::os::unix::fs::symlink(target, link).map_err(io("create symlink", link))?;
        Ok(Some(Change::Symlink {
            link: link.to_path_buf(),
            target: target.to_path_buf(),
        }))
    }

    /// `systemctl enable NAME...`: the `[Install]` section's links in the config
    /// directory, following `Also=`.
    pub fn enable(&self, names: &[String]) -> Result<EnableReport, UnitFileError> {
        let mut report = EnableReport::default();
        let mut todo: Vec<String> = names.to_vec();
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            Self::check_name(&name)?;
            let l = self.lookup(&name);
            if l.mask.is_some() {
                return Err(UnitFileError::Masked(name));
            }
            let Some(fragment) = l.fragment else {
                return Err(UnitFileError::NotFound(name));
            };
            // A template is enabled as its DefaultInstance=.
            let mut info = Self::install_info(&fragment, &name)?;
            let mut unit = name.clone();
            if name::split(&name).1 == Some("") {
                if let Some(i) = &info.default_instance {
                    let (p, _, s) = name::split(&name);
                    unit = format!("{p}@{i}.{s}");
                    info = Self::install_info(&fragment, &unit)?;
                } else {
                    info.wanted_by.clear();
                    info.required_by.clear();
                }
            }
            if !info.has_rules() && info.also.is_empty() {
                report.no_install.push(name.clone());
            }
            let target = self.in_root(&fragment);
            for (list, suffix) in [
                (&info.wanted_by, ".wants"),
                (&info.required_by, ".requires"),
            ] {
                for t in list {
                    let link = self.config_dir.join(format!("{t}{suffix}")).join(&unit);
                    report.changes.extend(self.symlink(&link, &target)?);
                }
            }
            for a in &info.alias {
                if a != &unit {
                    let link = self.config_dir.join(a);
                    report.changes.extend(self.symlink(&link, &target)?);
                }
            }
            todo.extend(info.also.iter().cloned());
        }
        Ok(report)
    }

    /// `systemctl disable NAME...`: removes the links that enable it (and its
    /// `Also=` units) from the config directory. A mask stays.
    pub fn disable(&self, names: &[String]) -> Result<Vec<Change>, UnitFileError> {
        let mut changes = Vec::new();
        let mut todo: Vec<String> = names.to_vec();
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            Self::check_name(&name)?;
            let l = self.lookup(&name);
            let info = match &l.fragment {
                Some(f) => Self::install_info(f, &name)?,
                None => InstallInfo::default(),
            };
            let config = [&self.config_dir];
            for p in self.links_for(&config, &name, &info.alias) {
                std::fs::remove_file(&p).map_err(io("remove", &p))?;
                changes.push(Change::Removed(p));
            }
            todo.extend(info.also.iter().cloned());
        }
        Ok(changes)
    }

    /// `systemctl mask NAME...`: a symlink to /dev/null in the config directory.
    pub fn mask(&self, names: &[String]) -> Result<Vec<Change>, UnitFileError> {
        let mut changes = Vec::new();
        for name in names {
            Self::check_name(name)?;
            let link = self.config_dir.join(name);
            changes.extend(self.symlink(&link, Path::new("/dev/null"))?);
        }
        Ok(changes)
    }

    /// `systemctl unmask NAME...`.
    pub fn unmask(&self, names: &[String]) -> Result<Vec<Change>, UnitFileError> {
        let mut changes = Vec::new();
        for name in names {
            Self::check_name(name)?;
            let link = self.config_dir.join(name);
            if is_null_link(&link) {
                std::fs::remove_file(&link).map_err(io("remove", &link))?;
                changes.push(Change::Removed(link));
            }
        }
        Ok(changes)
    }

    /// `systemctl get-default`: what default.target is an alias of. Without one,
    /// b8g-init starts multi-user.target.
    pub fn get_default(&self) -> String {
        self.lookup("default.target")
            .alias_of
            .unwrap_or_else(|| "multi-user.target".into())
    }

    /// `systemctl set-default NAME`: default.target in the config directory becomes a
    /// symlink to NAME's file (or to the bare name for b8g-init's built-in targets).
    pub fn set_default(&self, name: &str) -> Result<Vec<Change>, UnitFileError> {
        Self::check_name(name)?;
        let l = self.lookup(name);
        if l.mask.is_some() {
            return Err(UnitFileError::Masked(name.to_string()));
        }
        let target = match &l.fragment {
            Some(f) => self.in_root(f),
            None if crate::unit::load::is_builtin(name) => PathBuf::from(name),
            None => return Err(UnitFileError::NotFound(name.to_string())),
        };
        let link = self.config_dir.join("default.target");
        let mut changes = Vec::new();
        if std::fs::read_link(&link).is_ok_and(|t| t != target) {
            std::fs::remove_file(&link).map_err(io("remove", &link))?;
            changes.push(Change::Removed(link.clone()));
        }
        changes.extend(self.symlink(&link, &target)?);
        Ok(changes)
    }

    /// The files `systemctl cat NAME` shows: the fragment, then the drop-ins.
    pub fn sources(&self, name: &str) -> Result<Vec<PathBuf>, UnitFileError> {
        Self::check_name(name)?;
        let l = self.lookup(name);
        if l.mask.is_some() {
            return Err(UnitFileError::Masked(name.to_string()));
        }
        let fragment = l
            .fragment
            .ok_or_else(|| UnitFileError::NotFound(name.to_string()))?;
        let mut v = vec![fragment];
        v.extend(crate::unit::load::dropins_of(&self.dirs, name));
        Ok(v)
    }

    /// Every unit file name in the search path (not instances), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for dir in &self.dirs {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.filter_map(Result::ok) {
                let n = e.file_name().to_string_lossy().into_owned();
                if name::validate(&n).is_ok() && name::template_of(&n).is_none() {
                    names.insert(n);
                }
            }
        }
        names.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree() -> (tempfile::TempDir, UnitFiles) {
        let t = tempfile::tempdir().unwrap();
        let lib = t.path().join("lib/systemd/system");
        fs::create_dir_all(&lib).unwrap();
        let w = |n: &str, text: &str| fs::write(lib.join(n), text).unwrap();
        w("a.service", "[Service]\nExecStart=/bin/a\n[Install]\nWantedBy=multi-user.target\nRequiredBy=b.target\nAlias=a-alias.service\nAlso=helper.socket\n");
        w(
            "helper.socket",
            "[Socket]\nListenStream=/run/h\n[Install]\nWantedBy=sockets.target\n",
        );
        w("static.service", "[Service]\nExecStart=/bin/s\n");
        w(
            "indirect.service",
            "[Service]\nExecStart=/bin/i\n[Install]\nAlso=static.service\n",
        );
        w("getty@.service", "[Service]\nExecStart=/sbin/getty %I\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n");
        w("graphical.target", "[Unit]\nDescription=Graphical\n");
        let uf = UnitFiles::under_root(t.path());
        (t, uf)
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn enable_and_disable_follow_install_as_systemctl() {
        let (t, uf) = tree();
        let etc = t.path().join("etc/systemd/system");
        assert_eq!(uf.state("a.service").unwrap(), UnitFileState::Disabled);
        assert_eq!(uf.state("static.service").unwrap(), UnitFileState::Static);
        assert_eq!(
            uf.state("indirect.service").unwrap(),
            UnitFileState::Indirect
        );
        assert!(matches!(
            uf.state("nothere.service"),
            Err(UnitFileError::NotFound(_))
        ));
        let r = uf.enable(&names(&["a.service"])).unwrap();
        let target = PathBuf::from("/lib/systemd/system/a.service");
        assert_eq!(
            r.changes,
            [
                Change::Symlink {
                    link: etc.join("multi-user.target.wants/a.service"),
                    target: target.clone()
                },
                Change::Symlink {
                    link: etc.join("b.target.requires/a.service"),
                    target: target.clone()
                },
                Change::Symlink {
                    link: etc.join("a-alias.service"),
                    target: target.clone()
                },
                Change::Symlink {
                    link: etc.join("sockets.target.wants/helper.socket"),
                    target: "/lib/systemd/system/helper.socket".into()
                },
            ]
        );
        assert_eq!(
            r.changes[0].to_string(),
            format!(
                "Created symlink {} \u{2192} /lib/systemd/system/a.service.",
                etc.join("multi-user.target.wants/a.service").display()
            )
        );
        assert_eq!(uf.state("a.service").unwrap(), UnitFileState::Enabled);
        assert_eq!(uf.state("helper.socket").unwrap(), UnitFileState::Enabled);
        assert_eq!(uf.state("a-alias.service").unwrap(), UnitFileState::Alias);
        // Enabling again changes nothing.
        assert!(uf
            .enable(&names(&["a.service"]))
            .unwrap()
            .changes
            .is_empty());
        let r = uf.enable(&names(&["static.service"])).unwrap();
        assert_eq!(r.no_install, ["static.service"]);
        // A template is enabled as its DefaultInstance=.
        let r = uf.enable(&names(&["getty@.service"])).unwrap();
        assert_eq!(
            r.changes,
            [Change::Symlink {
                link: etc.join("getty.target.wants/getty@tty1.service"),
                target: "/lib/systemd/system/getty@.service".into()
            }]
        );
        assert_eq!(uf.state("getty@.service").unwrap(), UnitFileState::Enabled);
        assert_eq!(
            uf.state("getty@tty1.service").unwrap(),
            UnitFileState::Enabled
        );
        let removed = uf.disable(&names(&["a.service"])).unwrap();
        assert_eq!(
            removed,
            [
                Change::Removed(etc.join("a-alias.service")),
                Change::Removed(etc.join("b.target.requires/a.service")),
                Change::Removed(etc.join("multi-user.target.wants/a.service")),
                Change::Removed(etc.join("sockets.target.wants/helper.socket")),
            ]
        );
        assert_eq!(uf.state("a.service").unwrap(), UnitFileState::Disabled);
        assert_eq!(uf.state("helper.socket").unwrap(), UnitFileState::Disabled);
    }

    #[test]
    fn mask_unmask_and_default_target() {
        let (t, uf) = tree();
        let etc = t.path().join("etc/systemd/system");
        let c = uf.mask(&names(&["a.service"])).unwrap();
        assert_eq!(
            c,
            [Change::Symlink {
                link: etc.join("a.service"),
                target: "/dev/null".into()
            }]
        );
        assert_eq!(uf.state("a.service").unwrap(), UnitFileState::Masked);
        assert!(!UnitFileState::Masked.counts_as_enabled());
        assert!(matches!(
            uf.enable(&names(&["a.service"])),
            Err(UnitFileError::Masked(_))
        ));
        assert!(matches!(
            uf.sources("a.service"),
            Err(UnitFileError::Masked(_))
        ));
        assert_eq!(
            uf.unmask(&names(&["a.service"])).unwrap(),
            [Change::Removed(etc.join("a.service"))]
        );
        assert_eq!(uf.state("a.service").unwrap(), UnitFileState::Disabled);
        // A real file in /etc is not replaced by a mask.
        fs::write(etc.join("static.service"), "[Service]\nExecStart=/bin/x\n").unwrap();
        assert!(matches!(
            uf.mask(&names(&["static.service"])),
            Err(UnitFileError::Exists(_))
        ));
        let rt = uf.clone().runtime();
        rt.mask(&names(&["indirect.service"])).unwrap();
        assert_eq!(
            uf.state("indirect.service").unwrap(),
            UnitFileState::MaskedRuntime
        );
        assert_eq!(uf.get_default(), "multi-user.target");
        uf.set_default("graphical.target").unwrap();
        assert_eq!(uf.get_default(), "graphical.target");
        let c = uf.set_default("multi-user.target").unwrap();
        assert_eq!(
            c,
            [
                Change::Removed(etc.join("default.target")),
                Change::Symlink {
                    link: etc.join("default.target"),
                    target: "multi-user.target".into()
                }
            ]
        );
        assert_eq!(uf.get_default(), "multi-user.target");
        assert!(uf.names().contains(&"getty@.service".to_string()));
    }
}
