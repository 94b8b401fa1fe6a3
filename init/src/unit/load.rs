//! Loading a unit set from unit directories: the first directory that has a name
//! wins, symlinks to other unit names are aliases and symlinks to /dev/null mask,
//! `.conf` drop-ins from `NAME.d/`, the template's, dash-prefix (`foo-.service.d/`),
//! alias and type (`service.d/`) directories are applied in file-name order, `NAME.wants/` and
//! `NAME.requires/` add dependencies, templates instantiate `foo@bar.service` from
//! `foo@.service`, `[Install]` sections are honoured, default dependencies and
//! built-in targets are added. The result is a closed set: every name a unit refers
//! to is present, possibly as a "not found" placeholder that cannot start.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ini::RawUnit;
use super::name::{self, SpecifierDirs};
use super::parse::{unit_from_raw, Diags};
use super::{Diagnostic, KindConfig, Unit, UnitKind};

/// Where units come from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Unit directories, highest priority first.
    pub unit_dirs: Vec<PathBuf>,
    pub specifier_dirs: SpecifierDirs,
    /// Enable units only through `.wants/`/`.requires/` links, as systemd does on a
    /// mutable root (Debian's packages make those links at install time), instead of
    /// applying every unit's `[Install]` section (what an immutable generation wants).
    pub links_only: bool,
    /// Load only the units these names reach (plus the built-in targets and SysV
    /// units), as systemd loads units on demand, instead of every file in the unit
    /// directories. None loads everything (what `[Install]` needs to see all units).
    pub roots: Option<Vec<String>>,
}

/// A closed set of units keyed by canonical name, with aliases and diagnostics.
#[derive(Debug, Clone, Default)]
pub struct UnitSet {
    pub units: BTreeMap<String, Unit>,
    pub aliases: BTreeMap<String, String>,
    pub diagnostics: Vec<Diagnostic>,
}

impl UnitSet {
    /// The canonical name for `name` (following aliases).
    pub fn resolve<'a>(&'a self, name: &'a str) -> &'a str {
        self.aliases.get(name).map(String::as_str).unwrap_or(name)
    }
    pub fn get(&self, name: &str) -> Option<&Unit> {
        self.units.get(self.resolve(name))
    }
}

/// The load error of a unit whose file is a symlink to /dev/null.
pub const MASKED: &str = "unit is masked";

/// Targets that exist even without a file: (name, requires, wants, after).
const BUILTIN: &[(&str, &str, &str, &str)] = &[
    (
        "sysinit.target",
        "",
        "local-fs.target swap.target",
        "local-fs.target swap.target",
    ),
    (
        "basic.target",
        "sysinit.target",
        "sockets.target timers.target paths.target",
        "sysinit.target sockets.target timers.target paths.target",
    ),
    ("multi-user.target", "basic.target", "", "basic.target"),
    (
        "graphical.target",
        "multi-user.target",
        "",
        "multi-user.target",
    ),
    ("rescue.target", "sysinit.target", "", "sysinit.target"),
    ("emergency.target", "", "", ""),
    ("local-fs.target", "", "", ""),
    ("local-fs-pre.target", "", "", ""),
    ("remote-fs.target", "", "", ""),
    ("network.target", "", "", ""),
    ("network-pre.target", "", "", ""),
    ("network-online.target", "", "", "network.target"),
    ("nss-lookup.target", "", "", ""),
    ("nss-user-lookup.target", "", "", ""),
    ("time-sync.target", "", "", ""),
    ("syslog.target", "", "", ""),
    ("sockets.target", "", "", ""),
    ("timers.target", "", "", ""),
    ("paths.target", "", "", ""),
    ("swap.target", "", "", ""),
    ("getty.target", "", "", ""),
    ("shutdown.target", "", "", ""),
    ("umount.target", "", "", ""),
    ("final.target", "", "", ""),
    ("poweroff.target", "", "", ""),
    ("reboot.target", "", "", ""),
    ("halt.target", "", "", ""),
];

/// Targets that are part of shutting down and so do not conflict with it.
pub const SHUTDOWN_TARGETS: &[&str] = &[
    "shutdown.target",
    "umount.target",
    "final.target",
    "poweroff.target",
    "reboot.target",
    "halt.target",
    "emergency.target",
];

/// A `.device` unit (`dev-ttyS0.device`, `sys-subsystem-net-devices-eth0.device`),
/// which units name in `Requires=`/`BindsTo=`/`After=`. b8g-init has no udev device
/// tracking: a device unit is active when its node (or sysfs entry) exists when it is
/// started, and fails otherwise, so a dependent starts or fails as under systemd once
/// udev has settled; it does not wait for a device to appear, and a device that goes
/// away later does not stop the units bound to it.
pub fn device_unit(name: &str) -> Option<Unit> {
    let stem = name.strip_suffix(".device")?;
    let mut path = name::unescape_path(stem);
    // systemd's alias for network interfaces; the kernel's own path is /sys/class/net.
    if let Some(ifname) = path.strip_prefix("/sys/subsystem/net/devices/") {
        path = format!("/sys/class/net/{ifname}");
    }
    let mut u = Unit::empty(name);
    u.description = Some(format!("Device {path}"));
    u.default_dependencies = false;
    u.asserts.push(super::Condition {
        kind: super::ConditionKind::PathExists,
        negate: false,
        trigger: false,
        value: path,
    });
    Some(u)
}

/// Whether b8g-init has `name` as a built-in target (no file needed).
pub fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|b| b.0 == name)
}

fn builtin(name: &str) -> Option<Unit> {
    if let Some(u) = device_unit(name) {
        return Some(u);
    }
    // A slice without a unit file exists all the same, with no settings of its own
    // (systemd makes such slices as units are placed in them), inside its parent.
    if name.ends_with(".slice") && name::validate(name).is_ok() {
        let mut u = Unit::empty(name);
        if let Some(parent) = crate::cgroup::slice_dirs(name).iter().rev().nth(1) {
            u.deps.requires.insert(parent.clone());
            u.deps.after.insert(parent.clone());
        }
        return Some(u);
    }
    let (_, req, wants, after) = BUILTIN.iter().find(|b| b.0 == name)?;
    let mut u = Unit::empty(name);
    u.deps
        .requires
        .extend(req.split_whitespace().map(str::to_string));
    u.deps
        .wants
        .extend(wants.split_whitespace().map(str::to_string));
    u.deps
        .after
        .extend(after.split_whitespace().map(str::to_string));
    u.default_dependencies = !SHUTDOWN_TARGETS.contains(&name);
    Some(u)
}

#[derive(Default)]
struct Scan {
    files: BTreeMap<String, PathBuf>,
    masked: BTreeSet<String>,
    aliases: BTreeMap<String, String>,
    /// Per unit directory, in priority order: its drop-in directories (`NAME.d`, where
    /// NAME is a unit name, a prefix name like `foo-.service` or a bare type like
    /// `service`) and their `.conf` files.
    dropin_dirs: Vec<BTreeMap<String, Vec<PathBuf>>>,
    wants: BTreeMap<String, BTreeSet<String>>,
    requires: BTreeMap<String, BTreeSet<String>>,
}

impl Scan {
    /// The drop-ins of the unit known by `names` (its own name first, then its
    /// aliases), as systemd.unit(5) finds them: for each name and each unit directory
    /// `NAME.d/`, then the template's, then those of every dash prefix (`foo-bar-.service.d/`,
    /// `foo-.service.d/`), and last the type's (`service.d/`) in every directory. A file
    /// name seen once hides the same name later in that order (so /etc beats /lib, and a
    /// more specific directory beats a more generic one); the survivors are applied
    /// sorted by file name, whatever directory they are in.
    fn dropins_for(&self, names: &[&str]) -> Vec<PathBuf> {
        let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for n in names {
            for dir in &self.dropin_dirs {
                for d in dropin_names(n) {
                    for f in dir.get(&d).into_iter().flatten() {
                        add_dropin(&mut chosen, f);
                    }
                }
            }
        }
        if let Some(kind) = names.first().and_then(|n| UnitKind::from_name(n)) {
            for dir in &self.dropin_dirs {
                for f in dir.get(kind.suffix()).into_iter().flatten() {
                    add_dropin(&mut chosen, f);
                }
            }
        }
        chosen.into_values().collect()
    }
}

/// The drop-ins that apply to `name` in `dirs` (highest priority first), in the order
/// they are applied: what `systemctl cat` shows after the fragment.
pub fn dropins_of(dirs: &[PathBuf], name: &str) -> Vec<PathBuf> {
    let sc = scan(dirs);
    let canonical = sc.aliases.get(name).map_or(name, String::as_str);
    let names: Vec<&str> = std::iter::once(canonical)
        .chain(
            sc.aliases
                .iter()
                .filter(|(_, t)| *t == canonical)
                .map(|(a, _)| a.as_str()),
        )
        .collect();
    sc.dropins_for(&names)
}

fn add_dropin(chosen: &mut BTreeMap<String, PathBuf>, f: &Path) {
    let n = f
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    chosen.entry(n).or_insert_with(|| f.to_path_buf());
}

/// The names whose `.d/` directories hold drop-ins for `name`, most specific first:
/// the name, its template (`foo@.service` for `foo@bar.service`), then, for each dash
/// in the prefix from the last, the name cut after that dash (`a-b-c.service` →
/// `a-b-.service`, `a-.service`; an instance keeps its instance: `a-b@i.service` →
/// `a-@i.service`, `a-@.service`... as systemd's `unit_file_find_dirs` walks them).
pub fn dropin_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    dropin_names_into(name, &mut out);
    out
}

fn dropin_names_into(name: &str, out: &mut Vec<String>) {
    out.push(name.to_string());
    let (prefix, instance, suffix) = name::split(name);
    let instance = instance.filter(|i| !i.is_empty());
    if instance.is_some() {
        if let Some(t) = name::template_of(name) {
            dropin_names_into(&t, out);
        }
    }
    // Cut after the last dash; a trailing dash is dropped first (once), so that
    // `a-b-.service` leads on to `a-.service`.
    let mut p = prefix;
    let mut chopped = false;
    let cut = loop {
        let Some(dash) = p.rfind('-') else { return };
        if dash == 0 {
            return;
        }
        if dash + 1 != p.len() || chopped {
            break &p[..=dash];
        }
        p = &p[..dash];
        chopped = true;
    };
    let built = match instance {
        Some(i) => format!("{cut}@{i}.{suffix}"),
        None => format!("{cut}.{suffix}"),
    };
    dropin_names_into(&built, out);
}

fn scan(dirs: &[PathBuf]) -> Scan {
    let mut s = Scan::default();
    for dir in dirs {
        let mut dropin_dirs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let Ok(rd) = std::fs::read_dir(dir) else {
            s.dropin_dirs.push(dropin_dirs);
            continue;
        };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let fname = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if let Some(unit) = fname.strip_suffix(".d") {
                let is_type = UnitKind::from_name(&format!("x.{unit}")).is_some();
                if path.is_dir() && (UnitKind::from_name(unit).is_some() || is_type) {
                    // A .conf symlinked to /dev/null reads as empty: it masks the
                    // same name in lower-priority places, as in systemd.
                    let confs: Vec<PathBuf> = read_sorted(&path)
                        .into_iter()
                        .filter(|f| f.extension().is_some_and(|x| x == "conf"))
                        .collect();
                    dropin_dirs.insert(unit.to_string(), confs);
                }
                continue;
            }
            for (suffix, map) in [(".wants", &mut s.wants), (".requires", &mut s.requires)] {
                if let Some(unit) = fname.strip_suffix(suffix) {
                    if path.is_dir() {
                        let slot = map.entry(unit.to_string()).or_default();
                        for f in read_sorted(&path) {
                            slot.insert(
                                f.file_name()
                                    .unwrap_or_default()
                                    .to_string_lossy()
                                    .into_owned(),
                            );
                        }
                    }
                }
            }
            if UnitKind::from_name(&fname).is_none()
                || s.files.contains_key(&fname)
                || s.masked.contains(&fname)
            {
                continue;
            }
            if let Ok(target) = std::fs::read_link(&path) {
                if target == Path::new("/dev/null") {
                    s.masked.insert(fname);
                    continue;
                }
                let tname = target
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if tname != fname && UnitKind::from_name(&tname) == UnitKind::from_name(&fname) {
                    s.aliases.entry(fname).or_insert(tname);
                    continue;
                }
            }
            if path.is_file() {
                s.files.insert(fname, path);
            }
        }
        s.dropin_dirs.push(dropin_dirs);
    }
    s
}

fn read_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Parses one file (fragment plus drop-ins) into a unit named `name`.
pub fn load_file(
    name: &str,
    fragment: &Path,
    dropins: &[PathBuf],
    dirs: &SpecifierDirs,
    diags: &mut Diags,
) -> Unit {
    let mut raw = RawUnit::default();
    for p in std::iter::once(fragment).chain(dropins.iter().map(PathBuf::as_path)) {
        match std::fs::read(p) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                for e in raw.add_source(p, &text) {
                    diags.list.push(Diagnostic {
                        location: format!("{}:{}", e.file, e.line),
                        error: true,
                        message: e.message,
                    });
                }
            }
            Err(e) => diags.list.push(Diagnostic {
                location: p.display().to_string(),
                error: true,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    unit_from_raw(name, &raw, dirs, diags)
}

/// Loads every unit reachable from the unit directories, the built-in targets and
/// `generated` units (from SysV scripts; files of the same name override them).
pub fn load(opts: &LoadOptions, generated: Vec<Unit>) -> UnitSet {
    let sc = scan(&opts.unit_dirs);
    let mut set = UnitSet::default();
    let mut warned = BTreeSet::new();
    let mut generated: BTreeMap<String, Unit> =
        generated.into_iter().map(|u| (u.name.clone(), u)).collect();
    set.aliases = sc.aliases.clone();
    let mut queue: Vec<String> = match &opts.roots {
        Some(roots) => roots.clone(),
        None => sc
            .files
            .keys()
            .filter(|n| name::template_of(n).is_some() || !n.contains("@."))
            .cloned()
            // Masked names load too, so that starting one says it is masked.
            .chain(sc.masked.iter().cloned())
            .chain(sc.wants.keys().cloned())
            .chain(sc.requires.keys().cloned())
            .collect(),
    };
    queue.extend(generated.keys().cloned());
    queue.extend(BUILTIN.iter().map(|b| b.0.to_string()));
    queue.push("default.target".into());
    let mut seen = BTreeSet::new();
    // Units generated from SysV scripts (not overridden by a file): their "install" is
    // the rcN.d links, already read, so they are enabled even when only links count.
    let mut from_sysv = BTreeSet::new();
    // Pass 1: load the closure of names.
    while let Some(n) = queue.pop() {
        let n = set.aliases.get(&n).cloned().unwrap_or(n);
        if !seen.insert(n.clone()) {
            continue;
        }
        let mut diags = Diags {
            list: &mut set.diagnostics,
            warned: &mut warned,
        };
        let mut unit = if let Some(u) = device_unit(&n) {
            u
        } else if let Err(e) = name::validate(&n) {
            let mut u = Unit::empty("invalid.target");
            u.name = n.clone();
            u.load_error = Some(e);
            u
        } else if sc.masked.contains(&n) {
            let mut u = Unit::empty(&n);
            u.load_error = Some(MASKED.into());
            u
        } else if let Some(path) = sc
            .files
            .get(&n)
            .or_else(|| name::template_of(&n).and_then(|t| sc.files.get(&t)))
        {
            // Its own name first, then the names that are symlinks to it.
            let names: Vec<&str> = std::iter::once(n.as_str())
                .chain(
                    sc.aliases
                        .iter()
                        .filter(|(_, t)| **t == n)
                        .map(|(a, _)| a.as_str()),
                )
                .collect();
            let dropins = sc.dropins_for(&names);
            load_file(&n, path, &dropins, &opts.specifier_dirs, &mut diags)
        } else if let Some(u) = generated.remove(&n) {
            from_sysv.insert(n.clone());
            u
        } else if let Some(u) = builtin(&n) {
            u
        } else if n == "default.target" {
            set.aliases.insert(n.clone(), "multi-user.target".into());
            queue.push("multi-user.target".into());
            continue;
        } else {
            let mut u = Unit::empty(&n);
            u.load_error = Some("unit not found".into());
            u
        };
        if let Some(w) = sc.wants.get(&n) {
            unit.deps.wants.extend(w.iter().cloned());
        }
        if let Some(r) = sc.requires.get(&n) {
            unit.deps.requires.extend(r.iter().cloned());
        }
        // Alias= is part of [Install]: on a plain root it takes effect only once
        // `enable` has made the symlink (which the scan reads as an alias).
        let install_aliases = if opts.links_only {
            &[][..]
        } else {
            &unit.install.alias[..]
        };
        for a in install_aliases {
            if a != &n && UnitKind::from_name(a) == Some(unit.kind) {
                set.aliases.entry(a.clone()).or_insert_with(|| n.clone());
            }
        }
        add_implicit(&mut unit);
        queue.extend(referenced(&unit));
        set.units.insert(n, unit);
    }
    // Pass 2: [Install] sections (Also= follows to the named units).
    let mut installs: Vec<(String, String, bool)> = Vec::new();
    for u in set.units.values() {
        if u.load_error.is_some() || (opts.links_only && !from_sysv.contains(&u.name)) {
            continue;
        }
        for t in &u.install.wanted_by {
            installs.push((t.clone(), u.name.clone(), false));
        }
        for t in &u.install.required_by {
            installs.push((t.clone(), u.name.clone(), true));
        }
    }
    for (target, unit, required) in installs {
        let target = set.resolve(&target).to_string();
        match set.units.get_mut(&target) {
            Some(t) => {
                if required {
                    t.deps.requires.insert(unit);
                } else {
                    t.deps.wants.insert(unit);
                }
            }
            None => set.diagnostics.push(Diagnostic {
                location: unit.clone(),
                error: false,
                message: format!("[Install] names {target}, which does not exist"),
            }),
        }
    }
    // Pass 3: canonical names in dependency lists, then default dependencies (targets
    // need their final wants list for the automatic After=).
    let aliases = set.aliases.clone();
    let canon = |s: &mut super::NameSet| {
        *s = s
            .iter()
            .map(|n| aliases.get(n).cloned().unwrap_or_else(|| n.clone()))
            .collect();
    };
    for u in set.units.values_mut() {
        let d = &mut u.deps;
        for s in [
            &mut d.requires,
            &mut d.wants,
            &mut d.binds_to,
            &mut d.part_of,
            &mut d.requisite,
            &mut d.conflicts,
            &mut d.after,
            &mut d.before,
            &mut d.on_failure,
        ] {
            canon(s);
        }
    }
    // A mount is ordered after the mount unit of its closest parent, when there is one.
    let mounts: BTreeSet<String> = set
        .units
        .values()
        .filter(|u| u.kind == UnitKind::Mount)
        .map(|u| u.name.clone())
        .collect();
    for u in set.units.values_mut() {
        if let KindConfig::Mount(m) = &u.config {
            let parent = m
                .where_
                .ancestors()
                .skip(1)
                .map(name::mount_unit_name)
                .find(|n| mounts.contains(n));
            if let Some(p) = parent {
                u.deps.after.insert(p);
            }
        }
    }
    // RequiresMountsFor= (and a swap file's own path): the mount units of each path and
    // of its parents that exist become Requires= and After= (systemd.unit(5)).
    for u in set.units.values_mut() {
        let mut paths: Vec<PathBuf> = u.deps.requires_mounts_for.iter().cloned().collect();
        if let KindConfig::Swap(s) = &u.config {
            if s.what.starts_with('/') && !s.what.starts_with("/dev/") {
                paths.push(PathBuf::from(&s.what));
            }
        }
        for p in paths {
            for m in p.ancestors().map(name::mount_unit_name) {
                if mounts.contains(&m) && m != u.name {
                    u.deps.requires.insert(m.clone());
                    u.deps.after.insert(m);
                }
            }
        }
    }
    let no_default: BTreeSet<String> = set
        .units
        .values()
        .filter(|u| !u.default_dependencies)
        .map(|u| u.name.clone())
        .collect();
    let after = after_map(&set);
    for u in set.units.values_mut() {
        add_default_deps(u, &no_default, &after);
    }
    // Default dependencies may name built-ins not yet loaded (e.g. shutdown.target is
    // always present, so this only matters for user-deleted names): make the set closed.
    let missing: BTreeSet<String> = set
        .units
        .values()
        .flat_map(referenced)
        .filter(|n| !set.units.contains_key(n))
        .collect();
    for n in missing {
        let mut u = builtin(&n).unwrap_or_else(|| {
            let mut u = Unit::empty(&n);
            u.load_error = Some("unit not found".into());
            u
        });
        u.default_dependencies = false;
        set.units.insert(n, u);
    }
    set
}

/// Loads an instance of a template on demand (`b8gctl start foo@bar.service`, Accept=
/// connections): the instance gets its implicit and default dependencies like any other.
pub fn instantiate(
    opts: &LoadOptions,
    set: &UnitSet,
    name: &str,
) -> Option<(Unit, Vec<Diagnostic>)> {
    let template = name::template_of(name)?;
    let fragment = opts
        .unit_dirs
        .iter()
        .map(|d| d.join(&template))
        .find(|f| f.is_file());
    let dropins = scan(&opts.unit_dirs).dropins_for(&[name]);
    let fragment = fragment?;
    let mut list = Vec::new();
    let mut warned = BTreeSet::new();
    let mut diags = Diags {
        list: &mut list,
        warned: &mut warned,
    };
    let mut unit = load_file(name, &fragment, &dropins, &opts.specifier_dirs, &mut diags);
    add_implicit(&mut unit);
    let no_default: BTreeSet<String> = set
        .units
        .values()
        .filter(|u| !u.default_dependencies)
        .map(|u| u.name.clone())
        .collect();
    add_default_deps(&mut unit, &no_default, &after_map(set));
    Some((unit, list))
}

/// Names a unit points at.
pub fn referenced(u: &Unit) -> Vec<String> {
    let d = &u.deps;
    let mut v: Vec<String> = [
        &d.requires,
        &d.wants,
        &d.binds_to,
        &d.part_of,
        &d.requisite,
        &d.conflicts,
        &d.after,
        &d.before,
        &d.on_failure,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    v.extend(u.install.wanted_by.iter().cloned());
    v.extend(u.install.required_by.iter().cloned());
    v.extend(u.install.also.iter().cloned());
    match &u.config {
        KindConfig::Socket(s) => v.push(socket_service(u, s.service.as_deref())),
        KindConfig::Timer(t) => v.push(triggered_unit(u, t.unit.as_deref())),
        KindConfig::Path(p) => v.push(triggered_unit(u, p.unit.as_deref())),
        KindConfig::Service(s) => v.extend(s.sockets.iter().cloned()),
        _ => {}
    }
    v
}

/// The service a socket activates.
pub fn socket_service(u: &Unit, explicit: Option<&str>) -> String {
    if let Some(s) = explicit {
        return s.to_string();
    }
    let stem = u.name.strip_suffix(".socket").unwrap_or(&u.name);
    let accept = matches!(&u.config, KindConfig::Socket(s) if s.accept);
    if accept {
        format!("{stem}@.service")
    } else {
        format!("{stem}.service")
    }
}

/// The unit a timer or path unit triggers: `Unit=`, else the service of the same name.
pub fn triggered_unit(u: &Unit, explicit: Option<&str>) -> String {
    explicit.map(str::to_string).unwrap_or_else(|| {
        let stem = u.name.rsplit_once('.').map_or(u.name.as_str(), |(s, _)| s);
        format!("{stem}.service")
    })
}

/// Dependencies implied by the unit's own settings (independent of DefaultDependencies).
fn add_implicit(u: &mut Unit) {
    // Implicit, whatever DefaultDependencies= says (systemd.resource-control(5)): a unit
    // placed in a slice requires it and starts after it. (The default system.slice is
    // not made a dependency: it has no settings unless a unit file gives it some, and
    // those apply when a unit's cgroup is made.)
    if let Some(slice) = u.service().and_then(|s| s.exec.cgroup.slice.clone()) {
        u.deps.requires.insert(slice.clone());
        u.deps.after.insert(slice);
    }
    // A slice lies in its parent (`a-b.slice` in `a.slice`).
    if u.kind == UnitKind::Slice {
        if let Some(parent) = crate::cgroup::slice_dirs(&u.name).iter().rev().nth(1) {
            u.deps.requires.insert(parent.clone());
            u.deps.after.insert(parent.clone());
        }
    }
    // A mount or swap of a device node is bound to the device's unit and follows it,
    // as systemd does for units from files (mount.c/swap.c add_device_dependencies):
    // with udev running it waits for the device, and stops when the device goes.
    let node = match &u.config {
        KindConfig::Mount(m) if m.where_ != Path::new("/") => Some(m.what.as_str()),
        KindConfig::Swap(s) => Some(s.what.as_str()),
        _ => None,
    };
    if let Some(what) = node.filter(|w| w.starts_with("/dev/") && *w != "/dev/root") {
        let dev = format!("{}.device", name::escape_path(what));
        u.deps.binds_to.insert(dev.clone());
        u.deps.after.insert(dev);
    }
    match &u.config {
        KindConfig::Socket(s) if !s.accept => {
            let svc = socket_service(u, s.service.as_deref());
            u.deps.before.insert(svc);
        }
        KindConfig::Timer(t) => {
            let target = triggered_unit(u, t.unit.as_deref());
            u.deps.before.insert(target);
        }
        KindConfig::Path(p) => {
            let target = triggered_unit(u, p.unit.as_deref());
            u.deps.before.insert(target);
        }
        KindConfig::Service(s) => {
            for sock in &s.sockets {
                u.deps.wants.insert(sock.clone());
                u.deps.after.insert(sock.clone());
            }
            // systemd.service(5): Type=dbus services need the bus's socket.
            if s.service_type == super::ServiceType::Dbus {
                u.deps.requires.insert("dbus.socket".into());
                u.deps.after.insert("dbus.socket".into());
            }
        }
        _ => {}
    }
}

/// Each unit's `After=` names, as loaded (before default dependencies).
fn after_map(set: &UnitSet) -> BTreeMap<String, super::NameSet> {
    set.units
        .values()
        .map(|u| (u.name.clone(), u.deps.after.clone()))
        .collect()
}

fn add_default_deps(
    u: &mut Unit,
    no_default: &BTreeSet<String>,
    after: &BTreeMap<String, super::NameSet>,
) {
    if !u.default_dependencies {
        return;
    }
    let d = &mut u.deps;
    let shutdown = |d: &mut super::Deps| {
        d.conflicts.insert("shutdown.target".into());
        d.before.insert("shutdown.target".into());
    };
    match u.kind {
        UnitKind::Service => {
            d.requires.insert("sysinit.target".into());
            d.after.insert("sysinit.target".into());
            d.after.insert("basic.target".into());
            shutdown(d);
        }
        UnitKind::Socket | UnitKind::Timer | UnitKind::Path => {
            d.requires.insert("sysinit.target".into());
            d.after.insert("sysinit.target".into());
            let t = match u.kind {
                UnitKind::Socket => "sockets.target",
                UnitKind::Timer => "timers.target",
                _ => "paths.target",
            };
            d.before.insert(t.into());
            shutdown(d);
        }
        UnitKind::Slice => shutdown(d),
        UnitKind::Swap => {
            // systemd's swap_add_default_dependencies: before swap.target unless nofail.
            let nofail = match &u.config {
                KindConfig::Swap(s) => s
                    .options
                    .as_deref()
                    .is_some_and(|o| o.split(',').any(|x| x == "nofail")),
                _ => false,
            };
            if !nofail {
                d.before.insert("swap.target".into());
            }
            d.conflicts.insert("umount.target".into());
            d.before.insert("umount.target".into());
        }
        UnitKind::Mount => {
            d.before.insert("local-fs.target".into());
            d.conflicts.insert("umount.target".into());
            d.before.insert("umount.target".into());
        }
        UnitKind::Target => {
            // systemd's unit_add_default_target_dependency: not for a unit
            // ordered after the target already ("don't create loops"), as a
            // marker wanted by multi-user.target and After= it is.
            let name = u.name.clone();
            let pulled: Vec<String> = d
                .wants
                .iter()
                .chain(d.requires.iter())
                .filter(|n| !no_default.contains(*n))
                .filter(|n| !d.before.contains(n))
                .filter(|n| !after.get(*n).is_some_and(|a| a.contains(&name)))
                .cloned()
                .collect();
            d.after.extend(pulled);
            if !SHUTDOWN_TARGETS.contains(&u.name.as_str()) {
                shutdown(d);
            }
        }
    }
    // Units never order after themselves.
    let n = u.name.clone();
    d.after.remove(&n);
    d.before.remove(&n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_unit_ordered_after_the_target_that_wants_it_gets_no_loop() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("u");
        fs::create_dir_all(d.join("multi-user.target.wants")).unwrap();
        // A marker after multi-user.target, wanted by it (systemd-update-utmp-runlevel's way).
        fs::write(
            d.join("marker.service"),
            "[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
        )
        .unwrap();
        fs::write(d.join("plain.service"), "[Service]\nExecStart=/bin/true\n").unwrap();
        for n in ["marker.service", "plain.service"] {
            std::os::unix::fs::symlink(
                format!("../{n}"),
                d.join("multi-user.target.wants").join(n),
            )
            .unwrap();
        }
        let set = load(
            &LoadOptions {
                unit_dirs: vec![d],
                specifier_dirs: SpecifierDirs::default(),
                links_only: false,
                roots: None,
            },
            vec![],
        );
        let mu = set.get("multi-user.target").unwrap();
        assert!(mu.deps.wants.contains("marker.service"));
        assert!(
            !mu.deps.after.contains("marker.service"),
            "{:?}",
            mu.deps.after
        );
        assert!(mu.deps.after.contains("plain.service"));
    }

    #[test]
    fn loads_dirs_dropins_templates_wants_install_aliases() {
        let t = tempfile::tempdir().unwrap();
        let hi = t.path().join("hi");
        let lo = t.path().join("lo");
        fs::create_dir_all(hi.join("a.service.d")).unwrap();
        fs::create_dir_all(lo.join("multi-user.target.wants")).unwrap();
        fs::write(hi.join("a.service"), "[Unit]\nDescription=high\n[Service]\nExecStart=/bin/a\n[Install]\nWantedBy=multi-user.target\nAlias=alias-a.service\n").unwrap();
        fs::write(lo.join("a.service"), "[Service]\nExecStart=/bin/low\n").unwrap();
        fs::write(
            hi.join("a.service.d/10-env.conf"),
            "[Service]\nEnvironment=X=1\n",
        )
        .unwrap();
        fs::write(
            lo.join("getty@.service"),
            "[Unit]\nDescription=getty on %I\n[Service]\nExecStart=/sbin/getty %i\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../getty@.service",
            lo.join("multi-user.target.wants/getty@tty1.service"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/null", hi.join("masked.service")).unwrap();
        fs::write(lo.join("masked.service"), "[Service]\nExecStart=/bin/m\n").unwrap();
        fs::write(lo.join("b.service"), "[Unit]\nWants=alias-a.service masked.service nothere.service\n[Service]\nExecStart=/bin/b\n").unwrap();
        let set = load(
            &LoadOptions {
                unit_dirs: vec![hi.clone(), lo.clone()],
                specifier_dirs: SpecifierDirs::default(),
                links_only: false,
                roots: None,
            },
            vec![],
        );
        let a = set.get("a.service").unwrap();
        assert_eq!(a.description.as_deref(), Some("high"));
        assert_eq!(
            a.service().unwrap().exec.environment,
            [("X".to_string(), "1".to_string())]
        );
        assert_eq!(a.sources.len(), 2);
        let mu = set.get("multi-user.target").unwrap();
        assert!(mu.deps.wants.contains("a.service"));
        assert!(mu.deps.wants.contains("getty@tty1.service"));
        assert!(
            mu.deps.after.contains("a.service"),
            "targets are ordered after what they want"
        );
        let g = set.get("getty@tty1.service").unwrap();
        assert_eq!(g.description.as_deref(), Some("getty on tty1"));
        assert_eq!(
            g.service().unwrap().exec_start[0].argv,
            ["/sbin/getty", "tty1"]
        );
        assert!(g.deps.requires.contains("sysinit.target"));
        let b = set.get("b.service").unwrap();
        assert!(
            b.deps.wants.contains("a.service"),
            "aliases are resolved: {:?}",
            b.deps.wants
        );
        assert_eq!(
            set.get("masked.service").unwrap().load_error.as_deref(),
            Some(MASKED)
        );
        assert_eq!(
            set.get("nothere.service").unwrap().load_error.as_deref(),
            Some("unit not found")
        );
        assert_eq!(set.resolve("default.target"), "multi-user.target");
        assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
        // On a mutable root only the links enable: a.service is installed, not enabled.
        let linked = load(
            &LoadOptions {
                unit_dirs: vec![hi, lo],
                specifier_dirs: SpecifierDirs::default(),
                links_only: true,
                roots: Some(vec!["default.target".into(), "a.service".into()]),
            },
            vec![],
        );
        let mu = linked.get("multi-user.target").unwrap();
        assert!(!mu.deps.wants.contains("a.service"));
        // Nor is its Alias= in effect before enable links it.
        assert_eq!(linked.resolve("alias-a.service"), "alias-a.service");
        assert!(mu.deps.wants.contains("getty@tty1.service"));
        // Only what the roots reach is loaded; the rest stays on disk until asked for.
        assert!(linked.get("getty@tty1.service").is_some());
        assert!(linked.get("sysinit.target").is_some());
        assert!(linked.get("b.service").is_none());
        assert!(linked.get("masked.service").is_none());
    }

    #[test]
    fn swaps_and_requires_mounts_for_get_systemds_dependencies() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::write(d.join("srv.mount"), "[Mount]\nWhat=/dev/vdb\nWhere=/srv\n").unwrap();
        fs::write(
            d.join("srv-data.mount"),
            "[Mount]\nWhat=tmpfs\nWhere=/srv/data\nType=tmpfs\n",
        )
        .unwrap();
        fs::write(d.join("srv-swapfile.swap"), "[Swap]\nWhat=/srv/swapfile\n").unwrap();
        fs::write(
            d.join("dev-vdc.swap"),
            "[Swap]\nWhat=/dev/vdc\nOptions=nofail,pri=3\nPriority=2\n",
        )
        .unwrap();
        fs::write(d.join("wrong.swap"), "[Swap]\nWhat=/dev/vdd\n").unwrap();
        fs::write(
            d.join("db.service"),
            "[Unit]\nRequiresMountsFor=/srv/data/db /var/lib\n[Service]\nExecStart=/bin/db\n",
        )
        .unwrap();
        let set = load(
            &LoadOptions {
                unit_dirs: vec![d.to_path_buf()],
                specifier_dirs: SpecifierDirs::default(),
                links_only: false,
                roots: None,
            },
            vec![],
        );
        let db = set.get("db.service").unwrap();
        for m in ["srv.mount", "srv-data.mount"] {
            assert!(
                db.deps.requires.contains(m) && db.deps.after.contains(m),
                "{m}"
            );
        }
        let swap = set.get("srv-swapfile.swap").unwrap();
        assert!(swap.load_error.is_none(), "{:?}", swap.load_error);
        assert!(swap.deps.requires.contains("srv.mount") && swap.deps.after.contains("srv.mount"));
        assert!(swap.deps.before.contains("swap.target"));
        assert!(swap.deps.conflicts.contains("umount.target"));
        let dev = set.get("dev-vdc.swap").unwrap();
        let KindConfig::Swap(c) = &dev.config else {
            panic!("not a swap")
        };
        assert_eq!((c.what.as_str(), c.priority), ("/dev/vdc", Some(2)));
        assert!(
            !dev.deps.before.contains("swap.target"),
            "nofail: not before swap.target"
        );
        assert!(!dev.deps.requires.iter().any(|r| r.ends_with(".mount")));
        let wrong = set.get("wrong.swap").unwrap();
        assert!(wrong
            .load_error
            .as_deref()
            .is_some_and(|e| e.contains("What=/dev/vdd does not match the unit name wrong.swap")));
        // Device nodes bind their mounts and swaps (after the device).
        let srv = set.get("srv.mount").unwrap();
        assert!(
            srv.deps.binds_to.contains("dev-vdb.device")
                && srv.deps.after.contains("dev-vdb.device")
        );
        assert!(dev.deps.binds_to.contains("dev-vdc.device"));
        assert!(set.get("srv-data.mount").unwrap().deps.binds_to.is_empty());
        let sysinit = set.get("sysinit.target").unwrap();
        assert!(
            sysinit.deps.wants.contains("swap.target")
                && sysinit.deps.after.contains("swap.target")
        );
    }

    #[test]
    fn dropin_names_walk_template_and_dash_prefixes_as_systemd() {
        assert_eq!(
            dropin_names("a-b-c.service"),
            ["a-b-c.service", "a-b-.service", "a-.service"]
        );
        assert_eq!(
            dropin_names("p-q@i.service"),
            [
                "p-q@i.service",
                "p-q@.service",
                "p-.service",
                "p-@i.service",
                "p-@.service"
            ]
        );
        assert_eq!(dropin_names("-x.service"), ["-x.service"]);
        assert_eq!(dropin_names("plain.socket"), ["plain.socket"]);
    }

    #[test]
    fn dropins_from_prefix_type_and_alias_dirs_in_systemd_order() {
        // Regression: only NAME.d/ (and the template's) were read; Debian and admins
        // also use foo-.service.d/, service.d/ and drop-ins under an alias name.
        let t = tempfile::tempdir().unwrap();
        let etc = t.path().join("etc");
        let lib = t.path().join("lib");
        let w = |p: PathBuf, text: &str| {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        w(
            lib.join("a-b-c.service"),
            "[Unit]\nDescription=orig\n[Service]\nExecStart=/bin/orig\n",
        );
        w(
            lib.join("service.d/10-top.conf"),
            "[Service]\nEnvironment=TOP=1\n",
        );
        // Hidden by the more specific a-.service.d/50-x.conf in /etc.
        w(
            lib.join("service.d/50-x.conf"),
            "[Unit]\nDescription=type\n",
        );
        w(
            lib.join("a-b-c.service.d/50-x.conf"),
            "[Unit]\nDescription=specific but in /lib\n",
        );
        w(
            etc.join("a-.service.d/50-x.conf"),
            "[Unit]\nDescription=prefix in /etc\n",
        );
        // An empty assignment resets the list the fragment built.
        w(
            lib.join("a-b-.service.d/20-exec.conf"),
            "[Service]\nExecStart=\nExecStart=/bin/new\n",
        );
        std::os::unix::fs::symlink("a-b-c.service", etc.join("other-name.service")).unwrap();
        w(
            etc.join("other-name.service.d/30-alias.conf"),
            "[Service]\nEnvironment=ALIAS=1\n",
        );
        w(
            lib.join("a-b-c.service.d/60-mask.conf"),
            "[Service]\nEnvironment=MASKED=1\n",
        );
        fs::create_dir_all(etc.join("a-b-c.service.d")).unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("a-b-c.service.d/60-mask.conf")).unwrap();
        // Instances: the template's prefix directory applies too.
        w(lib.join("p-q@.service"), "[Service]\nExecStart=/bin/p %i\n");
        w(
            lib.join("p-.service.d/x.conf"),
            "[Unit]\nDescription=p prefix\n",
        );
        let opts = LoadOptions {
            unit_dirs: vec![etc.clone(), lib.clone()],
            roots: Some(vec!["a-b-c.service".into(), "p-q@i.service".into()]),
            ..LoadOptions::default()
        };
        let set = load(&opts, vec![]);
        let u = set.get("a-b-c.service").unwrap();
        assert_eq!(
            u.sources,
            [
                lib.join("a-b-c.service"),
                lib.join("service.d/10-top.conf"),
                lib.join("a-b-.service.d/20-exec.conf"),
                etc.join("other-name.service.d/30-alias.conf"),
                etc.join("a-.service.d/50-x.conf"),
                etc.join("a-b-c.service.d/60-mask.conf"),
            ]
        );
        assert_eq!(u.description.as_deref(), Some("prefix in /etc"));
        let s = u.service().unwrap();
        assert_eq!(s.exec_start.len(), 1);
        assert_eq!(s.exec_start[0].argv, ["/bin/new"]);
        assert_eq!(
            s.exec.environment,
            [
                ("TOP".to_string(), "1".to_string()),
                ("ALIAS".to_string(), "1".to_string())
            ]
        );
        let p = set.get("p-q@i.service").unwrap();
        assert_eq!(p.description.as_deref(), Some("p prefix"));
        let (p, _) = instantiate(&opts, &set, "p-q@j.service").unwrap();
        assert_eq!(p.description.as_deref(), Some("p prefix"));
        assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    }
}
