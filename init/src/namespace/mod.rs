//! A unit's file-system sandbox (systemd.exec(5), SANDBOXING): `ProtectSystem=`,
//! `ProtectHome=`, `PrivateTmp=`, `PrivateDevices=`, `ProtectKernelTunables=`,
//! `ProtectKernelModules=`, `ProtectControlGroups=`, `ReadWritePaths=`,
//! `ReadOnlyPaths=`, `InaccessiblePaths=`, `BindPaths=`, `BindReadOnlyPaths=` and
//! `TemporaryFileSystem=`, set up in a mount namespace of the service's own.
//!
//! PID 1 makes the plan (paths checked, strings made, mounts ordered); the child
//! applies it between fork and exec without allocating, as it runs on PID 1's memory.
//! Mounts apply from the shortest path to the longest, so a deeper setting wins, and
//! of one path the strictest (inaccessible, then read-only, then writable) wins, as
//! systemd orders them.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::unit::{ExecContext, ProtectHome, ProtectSystem};

mod apply;

/// Capabilities the sandbox takes away (PrivateDevices=, ProtectKernelModules=).
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_RAWIO: u32 = 17;
const CAP_MKNOD: u32 = 27;

#[derive(Debug)]
enum Op {
    /// Bind the path onto itself (with its submounts), so it can get its own flags.
    BindSelf,
    Bind {
        source: CString,
        recursive: bool,
    },
    /// Read-only (or writable again) at the path and every mount below it.
    ReadOnly(bool),
    Tmpfs {
        data: CString,
        flags: libc::c_ulong,
    },
    Mkdir,
    Touch,
    Symlink {
        target: CString,
    },
    /// Open the path (this namespace's copy of it) as descriptor `fd`: a bind's
    /// source must be a mount of the caller's own namespace.
    OpenAs {
        fd: libc::c_int,
    },
    /// A detached copy of the mounts at the path as they are (open_tree(2)), kept in
    /// slot `n`, taken before anything is made read-only.
    Clone {
        slot: usize,
    },
    /// That copy put back over the path (move_mount(2)): a writable path stays as
    /// writable as the host has it, neither more nor less.
    Attach {
        slot: usize,
    },
}

#[derive(Debug)]
struct Step {
    path: CString,
    op: Op,
    /// A failure is ignored (`-` paths, directories a system may not have).
    optional: bool,
}

/// What the child does, made ready by PID 1.
#[derive(Debug)]
pub struct Plan {
    steps: Vec<Step>,
    drop_caps: Vec<u32>,
    /// Descriptors of Clone steps, filled in by the child (its own memory is this
    /// plan's: the child shares PID 1's until it execs).
    slots: Vec<std::cell::Cell<libc::c_int>>,
    /// Reserves a descriptor number for the child's copy of /dev: PrivateDevices=
    /// binds its nodes from it after a fresh /dev hides it.
    _old_dev: Option<OwnedFd>,
}

/// What went wrong making a plan: a path a setting names is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{setting}={path}: {source}")]
    Path {
        setting: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{setting}={value}: {why}")]
    Invalid {
        setting: &'static str,
        value: String,
        why: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    ReadWrite,
    ReadOnly,
    Inaccessible,
    /// /dev, /proc and /sys writable again under ProtectSystem=strict.
    ApiWritable,
    Tmpfs {
        data: String,
        flags: libc::c_ulong,
    },
    Bind {
        source: PathBuf,
        read_only: bool,
        recursive: bool,
    },
    PrivateDev,
}

impl Kind {
    /// Of two settings on one path, the stricter applies last (and so wins).
    fn rank(&self) -> u8 {
        match self {
            Kind::ApiWritable => 0,
            Kind::ReadWrite => 1,
            Kind::Bind { .. } | Kind::Tmpfs { .. } | Kind::PrivateDev => 2,
            Kind::ReadOnly => 3,
            Kind::Inaccessible => 4,
        }
    }
}

struct Entry {
    path: PathBuf,
    kind: Kind,
    optional: bool,
    setting: &'static str,
}

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

/// `-` before a path: ignore it if missing. `+` (relative to RootDirectory=) is the
/// root here.
fn split_optional(w: &str) -> (bool, &str) {
    let optional = w.starts_with('-') || w.starts_with("+-") || w.starts_with("-+");
    (optional, w.trim_start_matches(['-', '+']))
}

/// Mount flags and data of `TemporaryFileSystem=`/`BindPaths=`-style options.
fn tmpfs_options(opts: &str, default_mode: &str) -> (String, libc::c_ulong) {
    let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
    let mut data: Vec<&str> = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "noexec" => flags |= libc::MS_NOEXEC,
            "exec" => flags &= !libc::MS_NOEXEC,
            "nosuid" | "nodev" => {}
            "suid" => flags &= !libc::MS_NOSUID,
            "dev" => flags &= !libc::MS_NODEV,
            other => data.push(other),
        }
    }
    if !data.iter().any(|d| d.starts_with("mode=")) {
        data.push(default_mode);
    }
    (data.join(","), flags)
}

/// The sandbox of `ctx`, or None when it asks for none. `own_dirs` are the unit's
/// RuntimeDirectory=, StateDirectory= and the like: writable whatever else is not.
/// `run_dir` holds the mode-0 file InaccessiblePaths= binds over files.
pub fn plan(
    ctx: &ExecContext,
    own_dirs: &[PathBuf],
    run_dir: &Path,
) -> Result<Option<Plan>, PlanError> {
    let sb = &ctx.sandbox;
    if !sb.is_set() && !ctx.private_tmp {
        return Ok(None);
    }
    // systemd sets the sandbox up inside the new root; applied to the host's paths it
    // would protect the wrong tree, so the combination is refused.
    if let Some(root) = &ctx.root_directory {
        return Err(PlanError::Invalid {
            setting: "RootDirectory",
            value: root.display().to_string(),
            why: "cannot be combined with PrivateTmp=, ProtectSystem= and the other sandboxing settings yet",
        });
    }
    let mut e: Vec<Entry> = Vec::new();
    let mut add = |path: &str, kind: Kind, optional: bool, setting: &'static str| {
        e.push(Entry {
            path: PathBuf::from(path),
            kind,
            optional,
            setting,
        })
    };
    match sb.protect_system {
        ProtectSystem::No => {}
        ProtectSystem::Strict => {
            add("/", Kind::ReadOnly, false, "ProtectSystem");
            for api in ["/dev", "/proc", "/sys"] {
                add(api, Kind::ApiWritable, true, "ProtectSystem");
            }
        }
        level => {
            for p in ["/usr", "/boot", "/efi"] {
                add(p, Kind::ReadOnly, true, "ProtectSystem");
            }
            if level == ProtectSystem::Full {
                add("/etc", Kind::ReadOnly, true, "ProtectSystem");
            }
        }
    }
    for p in ["/home", "/root", "/run/user"] {
        match sb.protect_home {
            ProtectHome::No => {}
            ProtectHome::Yes => add(p, Kind::Inaccessible, true, "ProtectHome"),
            ProtectHome::ReadOnly => add(p, Kind::ReadOnly, true, "ProtectHome"),
            ProtectHome::Tmpfs => add(
                p,
                Kind::Tmpfs {
                    data: "mode=0755".into(),
                    flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY,
                },
                true,
                "ProtectHome",
            ),
        }
    }
    if sb.protect_kernel_tunables {
        for p in [
            "/proc/sys",
            "/proc/sysrq-trigger",
            "/proc/irq",
            "/proc/bus",
            "/proc/fs",
            "/sys",
        ] {
            add(p, Kind::ReadOnly, true, "ProtectKernelTunables");
        }
    }
    if sb.protect_control_groups {
        add(
            "/sys/fs/cgroup",
            Kind::ReadOnly,
            true,
            "ProtectControlGroups",
        );
    }
    if sb.protect_kernel_modules {
        for p in ["/usr/lib/modules", "/lib/modules"] {
            add(p, Kind::Inaccessible, true, "ProtectKernelModules");
        }
    }
    for w in &sb.read_only_paths {
        let (opt, p) = split_optional(w);
        add(p, Kind::ReadOnly, opt, "ReadOnlyPaths");
    }
    for w in &sb.inaccessible_paths {
        let (opt, p) = split_optional(w);
        add(p, Kind::Inaccessible, opt, "InaccessiblePaths");
    }
    for w in &sb.read_write_paths {
        let (opt, p) = split_optional(w);
        add(p, Kind::ReadWrite, opt, "ReadWritePaths");
    }
    for d in own_dirs {
        add(
            &d.display().to_string(),
            Kind::ReadWrite,
            true,
            "StateDirectory",
        );
    }
    for w in &sb.temporary_file_system {
        let (path, opts) = w.split_once(':').unwrap_or((w, ""));
        let (data, flags) = tmpfs_options(opts, "mode=0755");
        add(
            path,
            Kind::Tmpfs { data, flags },
            false,
            "TemporaryFileSystem",
        );
    }
    for (list, read_only, setting) in [
        (&sb.bind_paths, false, "BindPaths"),
        (&sb.bind_read_only_paths, true, "BindReadOnlyPaths"),
    ] {
        for w in list {
            let (opt, rest) = split_optional(w);
            let mut f = rest.splitn(3, ':');
            let src = f.next().unwrap_or_default();
            let (dst, opts) = match (f.next(), f.next()) {
                (Some(d), o) if d.starts_with('/') => (d, o.unwrap_or("")),
                (Some(o), _) => (src, o),
                (None, _) => (src, ""),
            };
            let recursive = match opts {
                "" | "rbind" => true,
                "norbind" => false,
                _ => {
                    return Err(PlanError::Invalid {
                        setting,
                        value: w.clone(),
                        why: "options are rbind or norbind",
                    })
                }
            };
            if !Path::new(src).exists() {
                if opt {
                    continue;
                }
                return Err(PlanError::Path {
                    setting,
                    path: src.to_string(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            add(
                dst,
                Kind::Bind {
                    source: PathBuf::from(src),
                    read_only,
                    recursive,
                },
                opt,
                setting,
            );
        }
    }
    if ctx.private_tmp {
        let tmp = Kind::Tmpfs {
            data: "mode=1777".into(),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
        };
        add("/tmp", tmp.clone(), false, "PrivateTmp");
        add("/var/tmp", tmp, true, "PrivateTmp");
    }
    if sb.private_devices {
        add("/dev", Kind::PrivateDev, false, "PrivateDevices");
    }

    // Missing paths: skipped when optional, else the unit cannot start.
    // Symlinks resolved (ProtectHome= on a system whose /home links to /var/home must
    // hide the directory), and sorted by where they lead, as systemd does.
    let mut kept = Vec::new();
    for mut x in e {
        match std::fs::canonicalize(&x.path) {
            Ok(real) => {
                x.path = real;
                kept.push(x)
            }
            Err(_) if x.optional => {}
            Err(err) => {
                return Err(PlanError::Path {
                    setting: x.setting,
                    path: x.path.display().to_string(),
                    source: err,
                })
            }
        }
    }
    kept.sort_by(|a, b| {
        let depth = |p: &Path| p.components().count();
        depth(&a.path)
            .cmp(&depth(&b.path))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.kind.rank().cmp(&b.kind.rank()))
    });

    let mut steps = Vec::new();
    let mut clones = Vec::new();
    let mut old_dev = None;
    let mut drop_caps = Vec::new();
    for x in kept {
        let path = c(&x.path);
        let step = |op: Op| Step {
            path: path.clone(),
            op,
            optional: x.optional,
        };
        match x.kind {
            Kind::ReadWrite | Kind::ApiWritable => {
                let slot = clones.len();
                clones.push(step(Op::Clone { slot }));
                steps.push(step(Op::Attach { slot }));
            }
            Kind::ReadOnly => {
                steps.push(step(Op::BindSelf));
                steps.push(step(Op::ReadOnly(true)));
            }
            Kind::Inaccessible => {
                if x.path.is_dir() && !x.path.is_symlink() {
                    steps.push(step(Op::Tmpfs {
                        data: c"mode=000".into(),
                        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
                    }));
                } else {
                    // An empty, mode 0 file over it; /dev/null's node would still
                    // be readable.
                    steps.push(step(Op::Bind {
                        source: c(&inaccessible_file(run_dir)),
                        recursive: false,
                    }));
                    steps.push(step(Op::ReadOnly(true)));
                }
            }
            Kind::Tmpfs { data, flags } => steps.push(step(Op::Tmpfs {
                data: CString::new(data).unwrap_or_default(),
                flags,
            })),
            Kind::Bind {
                source,
                read_only,
                recursive,
            } => {
                steps.push(step(Op::Bind {
                    source: c(&source),
                    recursive,
                }));
                if read_only {
                    steps.push(step(Op::ReadOnly(true)));
                }
            }
            Kind::PrivateDev => {
                let fd = std::fs::File::open("/dev").map_err(|e| PlanError::Path {
                    setting: "PrivateDevices",
                    path: "/dev".into(),
                    source: e,
                })?;
                let fd = OwnedFd::from(fd);
                let from = |n: &str| {
                    CString::new(format!("/proc/self/fd/{}/{n}", fd.as_raw_fd()))
                        .unwrap_or_default()
                };
                let at = |n: &str, op: Op, optional: bool| Step {
                    path: CString::new(format!("/dev/{n}")).unwrap_or_default(),
                    op,
                    optional,
                };
                steps.push(step(Op::OpenAs { fd: fd.as_raw_fd() }));
                steps.push(step(Op::Tmpfs {
                    data: c"mode=0755".into(),
                    flags: libc::MS_NOSUID | libc::MS_NOEXEC,
                }));
                for n in ["null", "zero", "full", "random", "urandom", "tty"] {
                    steps.push(at(n, Op::Touch, false));
                    steps.push(at(
                        n,
                        Op::Bind {
                            source: from(n),
                            recursive: false,
                        },
                        false,
                    ));
                }
                for (n, optional) in [("pts", false), ("shm", false), ("mqueue", true)] {
                    steps.push(at(n, Op::Mkdir, optional));
                    steps.push(at(
                        n,
                        Op::Bind {
                            source: from(n),
                            recursive: true,
                        },
                        optional,
                    ));
                }
                for (n, target) in [
                    ("ptmx", "pts/ptmx"),
                    ("fd", "/proc/self/fd"),
                    ("stdin", "/proc/self/fd/0"),
                    ("stdout", "/proc/self/fd/1"),
                    ("stderr", "/proc/self/fd/2"),
                    ("log", "/run/systemd/journal/dev-log"),
                ] {
                    steps.push(at(
                        n,
                        Op::Symlink {
                            target: CString::new(target).unwrap_or_default(),
                        },
                        false,
                    ));
                }
                old_dev = Some(fd);
                drop_caps.extend([CAP_MKNOD, CAP_SYS_RAWIO]);
            }
        }
    }
    if sb.protect_kernel_modules {
        drop_caps.push(CAP_SYS_MODULE);
    }
    let slots = clones.iter().map(|_| std::cell::Cell::new(-1)).collect();
    clones.extend(steps);
    Ok(Some(Plan {
        steps: clones,
        drop_caps,
        slots,
        _old_dev: old_dev,
    }))
}

/// An empty file nobody may open, bound over what InaccessiblePaths= names (as
/// systemd's /run/systemd/inaccessible/reg).
fn inaccessible_file(run_dir: &Path) -> PathBuf {
    let p = run_dir.join("b8g/inaccessible-reg");
    if std::fs::symlink_metadata(&p).is_err() {
        let _ = std::fs::create_dir_all(run_dir.join("b8g"));
        let _ = std::fs::write(&p, b"");
    }
    // Mode 0 whatever was there: only root in the host namespace gets past it.
    let _ = std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o000));
    p
}

impl Plan {
    /// How many steps (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// A readable list of the steps, in order.
    pub fn describe(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let p = s.path.to_string_lossy();
                match &s.op {
                    Op::BindSelf => format!("bind {p}"),
                    Op::Bind { source, .. } => format!("bind {} {p}", source.to_string_lossy()),
                    Op::ReadOnly(true) => format!("ro {p}"),
                    Op::ReadOnly(false) => format!("rw {p}"),
                    Op::Tmpfs { data, .. } => format!("tmpfs {p} {}", data.to_string_lossy()),
                    Op::Mkdir => format!("mkdir {p}"),
                    Op::Touch => format!("touch {p}"),
                    Op::Symlink { target } => {
                        format!("symlink {p} -> {}", target.to_string_lossy())
                    }
                    Op::OpenAs { fd } => format!("open {p} as {fd}"),
                    Op::Clone { .. } => format!("clone {p}"),
                    Op::Attach { .. } => format!("rw {p}"),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Sandbox;

    fn ctx(sb: Sandbox, private_tmp: bool) -> ExecContext {
        ExecContext {
            sandbox: sb,
            private_tmp,
            ..Default::default()
        }
    }

    #[test]
    fn no_sandbox_no_plan() {
        assert!(plan(&ExecContext::default(), &[], Path::new("/run"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn strict_makes_everything_read_only_then_opens_what_the_unit_may_write() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("state");
        std::fs::create_dir(&own).unwrap();
        let sb = Sandbox {
            protect_system: ProtectSystem::Strict,
            protect_home: ProtectHome::Yes,
            read_write_paths: vec![format!("{}", d.path().display()), "-/nonexistent".into()],
            read_only_paths: vec![format!("{}", own.display())],
            ..Default::default()
        };
        let p = plan(&ctx(sb, true), std::slice::from_ref(&own), d.path())
            .unwrap()
            .unwrap();
        let steps = p.describe();
        let pos = |s: &str| {
            steps
                .iter()
                .position(|x| x == s)
                .unwrap_or_else(|| panic!("{s} not in {steps:#?}"))
        };
        // Copies of what stays writable are taken first, as the host has them; then /
        // read-only, the API file systems and the writable paths put back, deeper
        // paths later.
        let first = steps.iter().position(|s| !s.starts_with("clone ")).unwrap();
        assert!(
            steps[..first].contains(&"clone /dev".to_string()),
            "{steps:#?}"
        );
        assert_eq!(steps[first], "bind /");
        assert_eq!(steps[first + 1], "ro /");
        assert!(pos("rw /dev") > first + 1 && pos("rw /proc") > first + 1);
        assert!(pos("tmpfs /tmp mode=1777") > 1);
        let dir = d.path().display().to_string();
        assert!(pos(&format!("rw {dir}")) < pos(&format!("ro {}", own.display())));
        // Of one path, the stricter setting is applied last: the read-only one wins
        // over the unit's own directory being writable.
        let own_s = own.display().to_string();
        assert!(pos(&format!("rw {own_s}")) < pos(&format!("ro {own_s}")));
        assert!(!steps.iter().any(|s| s.contains("nonexistent")));
        assert!(pos("tmpfs /root mode=000") > 1);
    }

    #[test]
    fn a_missing_path_without_dash_fails_the_plan() {
        let sb = Sandbox {
            read_only_paths: vec!["/nonexistent/b8g".into()],
            ..Default::default()
        };
        let e = plan(&ctx(sb, false), &[], Path::new("/run"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("ReadOnlyPaths=/nonexistent/b8g: "), "{e}");
    }

    #[test]
    fn private_devices_builds_a_dev_of_pseudo_devices_only() {
        let sb = Sandbox {
            private_devices: true,
            ..Default::default()
        };
        let p = plan(&ctx(sb, false), &[], Path::new("/run"))
            .unwrap()
            .unwrap();
        let steps = p.describe();
        assert!(steps[0].starts_with("open /dev as "), "{steps:?}");
        assert_eq!(steps[1], "tmpfs /dev mode=0755");
        assert!(steps
            .iter()
            .any(|s| s.starts_with("bind /proc/self/fd/") && s.ends_with("/null /dev/null")));
        assert!(steps.contains(&"symlink /dev/log -> /run/systemd/journal/dev-log".to_string()));
        assert!(!steps.iter().any(|s| s.contains("sda") || s.contains("mem")));
        assert_eq!(p.drop_caps, [CAP_MKNOD, CAP_SYS_RAWIO]);
    }

    #[test]
    fn bind_paths_take_a_destination_and_options() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let sb = Sandbox {
            bind_read_only_paths: vec![format!("{}:{}:norbind", src.display(), d.path().display())],
            bind_paths: vec!["-/nonexistent/x".into()],
            temporary_file_system: vec![format!("{}:ro,mode=0700", d.path().display())],
            ..Default::default()
        };
        let steps = plan(&ctx(sb, false), &[], Path::new("/run"))
            .unwrap()
            .unwrap()
            .describe();
        let dir = d.path().display().to_string();
        assert_eq!(
            steps,
            [
                format!("tmpfs {dir} mode=0700"),
                format!("bind {} {dir}", src.display()),
                format!("ro {dir}"),
            ]
        );
    }
}
