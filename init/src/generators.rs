//! Unit generators (systemd.generator(7)): executables in the system-generators
//! directories run before units are loaded and at every daemon-reload, writing units
//! into `/run/systemd/generator{.early,,.late}`; and a built-in fstab generator that
//! makes `/etc/fstab` into `.mount` units as systemd-fstab-generator(8) does.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::unit::name::mount_unit_name;

/// Where generators write: their three arguments.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub normal: PathBuf,
    pub early: PathBuf,
    pub late: PathBuf,
}

impl Outputs {
    pub fn under(run_dir: &Path) -> Outputs {
        let d = run_dir.join("systemd");
        Outputs {
            normal: d.join("generator"),
            early: d.join("generator.early"),
            late: d.join("generator.late"),
        }
    }

    /// Empties the three directories (what a previous run wrote is gone).
    pub fn reset(&self) -> std::io::Result<()> {
        for d in [&self.normal, &self.early, &self.late] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }

    /// The unit search path with the generators' directories in systemd's places:
    /// early first, normal after the `/etc` and `/run` directories (before vendor
    /// units), late last.
    pub fn search_path(&self, unit_dirs: &[PathBuf]) -> Vec<PathBuf> {
        let local = |d: &PathBuf| {
            let s = d.to_string_lossy();
            s.contains("/etc/") || s.contains("/run/") || !s.contains("/lib/")
        };
        let split = unit_dirs.iter().rposition(local).map_or(0, |i| i + 1);
        let mut v = vec![self.early.clone()];
        v.extend(unit_dirs[..split].iter().cloned());
        v.push(self.normal.clone());
        v.extend(unit_dirs[split..].iter().cloned());
        v.push(self.late.clone());
        v
    }
}

/// The executables of the generator directories, highest priority first; one name
/// in an earlier directory hides it in later ones, and a link to /dev/null masks it.
pub fn find(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let Some(name) = p.file_name().map(|n| n.to_owned()) else {
                continue;
            };
            if !seen.insert(name) {
                continue;
            }
            if std::fs::read_link(&p).is_ok_and(|t| t == Path::new("/dev/null")) {
                continue;
            }
            let exec = std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if exec {
                out.push(p);
            }
        }
    }
    out
}

/// Runs every generator at once with the three output directories, waits at most
/// `timeout` for all, kills the rest. Returns what to log: each one's output lines
/// and failures.
pub fn run(generators: &[PathBuf], out: &Outputs, timeout: Duration) -> Vec<String> {
    let mut log = Vec::new();
    let mut running = Vec::new();
    for g in generators {
        let name = g
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let child = Command::new(g)
            .arg(&out.normal)
            .arg(&out.early)
            .arg(&out.late)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("SYSTEMD_SCOPE", "system")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own: a timeout kills whatever the generator started too.
            .process_group(0)
            .spawn();
        match child {
            Ok(c) => running.push((name, c)),
            Err(e) => log.push(format!("generator {name}: cannot run: {e}")),
        }
    }
    let deadline = Instant::now() + timeout;
    for (name, mut c) in running {
        let status = loop {
            match c.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    // SAFETY: signalling the process group the child leads.
                    unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
                    let _ = c.wait();
                    break None;
                }
            }
        };
        // Bounded, and without waiting: a generator's chatter is for the log, not for
        // PID 1's memory, and what it left running may hold the pipes open.
        let mut text = Vec::new();
        let pipes: [Option<std::os::fd::OwnedFd>; 2] = [
            c.stdout.take().map(std::os::fd::OwnedFd::from),
            c.stderr.take().map(std::os::fd::OwnedFd::from),
        ];
        for fd in pipes.into_iter().flatten() {
            use std::os::fd::AsRawFd;
            let mut buf = [0u8; 4096];
            while text.len() < 16 * 1024 {
                // SAFETY: a nonblocking read into a stack buffer from our pipe end.
                let k = unsafe {
                    libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
                    libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if k <= 0 {
                    break;
                }
                text.extend_from_slice(&buf[..k as usize]);
            }
        }
        for l in String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            log.push(format!("generator {name}: {l}"));
        }
        match status {
            Some(s) if s.success() => {}
            Some(s) => log.push(format!("generator {name} failed: {s}")),
            None => log.push(format!(
                "generator {name} timed out after {timeout:?}; killed"
            )),
        }
    }
    log
}

/// Network file systems: their mounts wait for the network (remote-fs.target).
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "sshfs",
    "fuse.sshfs",
    "ncpfs",
    "ncp",
    "glusterfs",
    "ceph",
    "afs",
    "davfs",
    "gfs",
    "gfs2",
    "ocfs2",
    "iscsi",
];

/// A unit the fstab generator writes, and the targets that pull it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub name: String,
    pub text: String,
    /// (`TARGET.wants` or `TARGET.requires`, this unit): links to make.
    pub links: Vec<String>,
}

/// `/dev/disk/by-*` for fstab's `UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=`.
fn device_path(what: &str) -> String {
    for (tag, dir) in [
        ("UUID=", "by-uuid"),
        ("LABEL=", "by-label"),
        ("PARTUUID=", "by-partuuid"),
        ("PARTLABEL=", "by-partlabel"),
    ] {
        if let Some(v) = what.strip_prefix(tag) {
            let v = v.trim_matches('"');
            // udev escapes `/` and blanks in these names.
            let esc: String = v
                .chars()
                .map(|c| match c {
                    '/' => "\\x2f".to_string(),
                    ' ' => "\\x20".to_string(),
                    c => c.to_string(),
                })
                .collect();
            return format!("/dev/disk/{dir}/{esc}");
        }
    }
    what.to_string()
}

/// fstab(5)'s octal escapes (`\040` for a blank).
pub(crate) fn unoctal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Three octal digits up to \377 (one byte).
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && b[i + 2..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The units systemd-fstab-generator makes of `/etc/fstab` (`source` names it), and
/// notes on lines it cannot honour. The root file system is not among them (stage 1
/// or the kernel mounted it; its options are applied by remounting, see
/// [`root_options`]); swap lines become `.swap` units.
///
/// `fsck` is the fsck(8) to check file systems with (pass number above 0, a device):
/// each such mount then requires a `systemd-fsck@DEVICE.service` of its own, as
/// systemd-fsck@.service does it (exit status 1, errors corrected, counts as success).
pub fn fstab(text: &str, source: &Path, fsck: Option<&Path>) -> (Vec<Generated>, Vec<String>) {
    let mut units = Vec::new();
    let mut notes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = format!("{}:{}", source.display(), i + 1);
        if f.len() < 2 {
            notes.push(format!("{at}: not an fstab entry, ignored"));
            continue;
        }
        let what = device_path(&unoctal(f[0]));
        let where_ = unoctal(f[1]);
        // Escapes must not smuggle a line break (a directive) into the unit.
        if what.chars().chain(where_.chars()).any(|c| c.is_control()) {
            notes.push(format!(
                "{at}: control characters in the device or mount point, ignored"
            ));
            continue;
        }
        let fstype = f.get(2).copied().unwrap_or("auto");
        let opts = f.get(3).copied().unwrap_or("defaults");
        let passno: u32 = f.get(5).and_then(|p| p.parse().ok()).unwrap_or(0);
        let has = |o: &str| opts.split(',').any(|x| x == o);
        // Values naming units become directives and link directories: unit names only.
        let value = |k: &str| -> Vec<String> {
            opts.split(',')
                .filter_map(|x| x.strip_prefix(k).map(str::to_string))
                .filter(|v| {
                    k == "x-systemd.requires-mounts-for=" && v.starts_with('/') && !v.contains("..")
                        || k == "x-systemd.mount-timeout="
                        || (!v.is_empty()
                            && !v.starts_with('.')
                            && v.chars()
                                .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)))
                })
                .collect()
        };
        if fstype == "swap" {
            if !what.starts_with('/') {
                notes.push(format!("{at}: swap {what:?} is not a path, ignored"));
                continue;
            }
            // systemd-fstab-generator's add_swap: the options as written unless
            // "defaults", swap.target requires it (wants with nofail), noauto leaves it.
            let mut unit = format!(
                "# Written by b8g-init's fstab generator (systemd-fstab-generator(8)).\n\
                 [Unit]\nDocumentation=man:fstab(5) man:systemd-fstab-generator(8)\n\
                 SourcePath={}\n\n[Swap]\nWhat={what}\n",
                source.display()
            );
            if opts != "defaults" && !opts.is_empty() {
                unit.push_str(&format!("Options={}\n", opts.replace('%', "%%")));
            }
            if let Some(t) = value("x-systemd.mount-timeout=").last() {
                unit.push_str(&format!("TimeoutSec={t}\n"));
            }
            let links = if has("noauto") {
                Vec::new()
            } else {
                vec![format!(
                    "swap.target.{}",
                    if has("nofail") { "wants" } else { "requires" }
                )]
            };
            units.push(Generated {
                name: crate::unit::name::swap_unit_name(&what),
                text: unit,
                links,
            });
            continue;
        }
        if !where_.starts_with('/') {
            notes.push(format!(
                "{at}: mount point {where_:?} is not absolute, ignored"
            ));
            continue;
        }
        let where_ = if where_.len() > 1 {
            where_.trim_end_matches('/').to_string()
        } else {
            where_
        };
        if where_ == "/" {
            continue;
        }
        let network = has("_netdev") || NETWORK_FS.contains(&fstype);
        let target = if network {
            "remote-fs.target"
        } else {
            "local-fs.target"
        };
        let nofail = has("nofail");
        let mut unit = String::from(
            "# Written by b8g-init's fstab generator (systemd-fstab-generator(8)).\n[Unit]\n",
        );
        unit.push_str(&format!(
            "Documentation=man:fstab(5) man:systemd-fstab-generator(8)\nSourcePath={}\n",
            source.display()
        ));
        if network {
            unit.push_str("After=network-online.target\nWants=network-online.target\n");
        }
        if !nofail {
            unit.push_str(&format!("Before={target}\n"));
        }
        if passno > 0 && what.starts_with("/dev/") {
            match fsck {
                Some(fsck) => {
                    let dev = crate::unit::name::escape_path(&what);
                    let name = format!("systemd-fsck@{dev}.service");
                    unit.push_str(&format!("Requires={name}\nAfter={name}\n"));
                    units.push(Generated {
                        name,
                        text: format!(
                            "# Written by b8g-init's fstab generator (systemd-fsck@.service(8)).\n\
                             [Unit]\nDescription=File System Check on {what}\n\
                             DefaultDependencies=no\nBindsTo={dev}.device\n\
                             Conflicts=shutdown.target\n\
                             After={dev}.device local-fs-pre.target\nBefore=shutdown.target\n\n\
                             [Service]\nType=oneshot\nRemainAfterExit=yes\n\
                             ExecStart={} -a {what}\nSuccessExitStatus=1\nTimeoutSec=infinity\n",
                            fsck.display()
                        ),
                        links: Vec::new(),
                    });
                }
                None => notes.push(format!(
                    "{at}: {where_} asks for fsck (pass {passno}) and there is no fsck; mounted unchecked"
                )),
            }
        }
        for r in value("x-systemd.requires=") {
            unit.push_str(&format!("Requires={r}\nAfter={r}\n"));
        }
        for r in value("x-systemd.after=") {
            unit.push_str(&format!("After={r}\n"));
        }
        for r in value("x-systemd.before=") {
            unit.push_str(&format!("Before={r}\n"));
        }
        for r in value("x-systemd.requires-mounts-for=") {
            unit.push_str(&format!("RequiresMountsFor={r}\n"));
        }
        if has("x-systemd.automount") {
            notes.push(format!(
                "{at}: x-systemd.automount: mounted at boot instead (no automount units)"
            ));
        }
        let kept: Vec<&str> = opts
            .split(',')
            .filter(|o| {
                !o.starts_with("x-systemd.")
                    && !matches!(*o, "nofail" | "noauto" | "auto" | "_netdev")
            })
            .collect();
        unit.push_str("\n[Mount]\n");
        unit.push_str(&format!("What={what}\nWhere={where_}\n"));
        if fstype != "auto" {
            unit.push_str(&format!("Type={fstype}\n"));
        }
        if !kept.is_empty() {
            unit.push_str(&format!("Options={}\n", kept.join(",")));
        }
        if let Some(t) = value("x-systemd.mount-timeout=").last() {
            unit.push_str(&format!("TimeoutSec={t}\n"));
        }
        let name = mount_unit_name(Path::new(&where_));
        let mut links = Vec::new();
        if !has("noauto") {
            let wanted = value("x-systemd.wanted-by=");
            let required = value("x-systemd.required-by=");
            if wanted.is_empty() && required.is_empty() {
                links.push(format!(
                    "{target}.{}",
                    if nofail { "wants" } else { "requires" }
                ));
            }
            links.extend(wanted.iter().map(|t| format!("{t}.wants")));
            links.extend(required.iter().map(|t| format!("{t}.requires")));
        }
        units.push(Generated {
            name,
            text: unit,
            links,
        });
    }
    (units, notes)
}

/// The options of `/` in fstab, to remount it with (systemd-remount-fs).
pub fn root_options(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/")).then(|| f.get(3).copied().unwrap_or("defaults").to_string())
        })
}

/// systemd's units for `systemd-tmpfiles` and `systemd-sysusers` (systemd 252's
/// systemd-tmpfiles-setup-dev.service, systemd-sysusers.service and
/// systemd-tmpfiles-setup.service), for a root that has the tools (Debian's
/// systemd-standalone-tmpfiles and -sysusers) but not systemd's units. `prefix` is the
/// root the tools are looked for under; written into the late directory, a real unit
/// of the same name wins.
pub fn standalone_tools(prefix: &Path) -> Vec<Generated> {
    let find = |tool: &str| {
        ["usr/bin", "bin", "usr/sbin", "sbin"]
            .iter()
            .map(|d| prefix.join(d).join(tool))
            .find(|p| p.is_file())
    };
    let mut v = Vec::new();
    let wants = vec!["sysinit.target.wants".to_string()];
    if let Some(sysusers) = find("systemd-sysusers") {
        v.push(Generated {
            name: "systemd-sysusers.service".into(),
            text: format!(
                "# Written by b8g-init: systemd's unit for the standalone tool.\n\
                 [Unit]\nDescription=Create System Users\nDocumentation=man:sysusers.d(5) man:systemd-sysusers.service(8)\n\
                 DefaultDependencies=no\nAfter=systemd-remount-fs.service\n\
                 Before=systemd-tmpfiles-setup.service sysinit.target shutdown.target\nConflicts=shutdown.target\n\n\
                 [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={}\n",
                sysusers.display()
            ),
            links: wants.clone(),
        });
    }
    if let Some(tmpfiles) = find("systemd-tmpfiles") {
        v.push(Generated {
            name: "systemd-tmpfiles-setup-dev.service".into(),
            text: format!(
                "# Written by b8g-init: systemd's unit for the standalone tool.\n\
                 [Unit]\nDescription=Create Static Device Nodes in /dev\nDocumentation=man:tmpfiles.d(5) man:systemd-tmpfiles(8)\n\
                 DefaultDependencies=no\nBefore=sysinit.target local-fs-pre.target systemd-udevd.service shutdown.target\n\
                 Wants=local-fs-pre.target\nConflicts=shutdown.target\n\n\
                 [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={} --prefix=/dev --create --boot\n\
                 SuccessExitStatus=DATAERR CANTCREAT\n",
                tmpfiles.display()
            ),
            links: wants.clone(),
        });
        v.push(Generated {
            name: "systemd-tmpfiles-setup.service".into(),
            text: format!(
                "# Written by b8g-init: systemd's unit for the standalone tool.\n\
                 [Unit]\nDescription=Create Volatile Files and Directories\nDocumentation=man:tmpfiles.d(5) man:systemd-tmpfiles(8)\n\
                 DefaultDependencies=no\nConflicts=shutdown.target\nAfter=local-fs.target systemd-sysusers.service\n\
                 Before=sysinit.target shutdown.target\nRefuseManualStop=yes\n\n\
                 [Service]\nType=oneshot\nRemainAfterExit=yes\n\
                 ExecStart={} --create --remove --boot --exclude-prefix=/dev\nSuccessExitStatus=DATAERR CANTCREAT\n",
                tmpfiles.display()
            ),
            links: wants,
        });
    }
    v
}

/// Writes what [`fstab`] made into `dir` (the normal generator directory).
pub fn write(dir: &Path, units: &[Generated]) -> std::io::Result<()> {
    for u in units {
        std::fs::write(dir.join(&u.name), &u.text)?;
        for l in &u.links {
            let d = dir.join(l);
            std::fs::create_dir_all(&d)?;
            let link = d.join(&u.name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(Path::new("..").join(&u.name), link)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSTAB: &str = "\
# /etc/fstab: static file system information.
UUID=0a1b-2c3d  /               ext4    errors=remount-ro 0       1
/dev/vdb1       /srv            ext4    defaults,noatime  0       2
LABEL=data\\040disk /mnt/my\\040data ext4 nofail,x-systemd.mount-timeout=30s 0 0
srv:/export     /net/export     nfs     _netdev,ro        0       0
/dev/vdc        /backup         auto    noauto            0       0
/swapfile       none            swap    sw                0       0
tmpfs           /var/cache/x/   tmpfs   mode=0755,x-systemd.required-by=nginx.service 0 0
";

    #[test]
    fn octal_escapes_stop_at_one_byte() {
        assert_eq!(unoctal("a\\040b"), "a b");
        // \477 would overflow a byte: kept as written.
        assert_eq!(unoctal("a\\477"), "a\\477");
    }

    #[test]
    fn fstab_lines_become_mount_units_as_systemd_makes_them() {
        let (units, notes) = fstab(FSTAB, Path::new("/etc/fstab"), None);
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "srv.mount",
                "mnt-my\\x20data.mount",
                "net-export.mount",
                "backup.mount",
                "swapfile.swap",
                "var-cache-x.mount"
            ]
        );
        let srv = &units[0];
        assert!(srv.text.contains("Before=local-fs.target\n"));
        assert!(srv
            .text
            .contains("What=/dev/vdb1\nWhere=/srv\nType=ext4\nOptions=defaults,noatime\n"));
        assert_eq!(srv.links, ["local-fs.target.requires"]);
        let data = &units[1];
        assert!(
            data.text
                .contains("What=/dev/disk/by-label/data\\x20disk\nWhere=/mnt/my data\n"),
            "{}",
            data.text
        );
        assert!(!data.text.contains("Before=local-fs.target"));
        assert!(data.text.contains("TimeoutSec=30s") && !data.text.contains("nofail"));
        assert_eq!(data.links, ["local-fs.target.wants"]);
        let net = &units[2];
        assert!(net
            .text
            .contains("After=network-online.target\nWants=network-online.target\n"));
        assert!(net.text.contains("Before=remote-fs.target") && net.text.contains("Options=ro\n"));
        assert_eq!(net.links, ["remote-fs.target.requires"]);
        assert!(units[3].links.is_empty() && !units[3].text.contains("Type="));
        assert_eq!(units[5].links, ["nginx.service.requires"]);
        let swap = &units[4];
        assert_eq!(swap.name, "swapfile.swap");
        assert!(
            swap.text.contains("[Swap]\nWhat=/swapfile\nOptions=sw\n"),
            "{}",
            swap.text
        );
        assert_eq!(swap.links, ["swap.target.requires"]);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("/srv asks for fsck (pass 2) and there is no fsck")),
            "{notes:?}"
        );
        assert_eq!(root_options(FSTAB).as_deref(), Some("errors=remount-ro"));
    }

    #[test]
    fn the_search_path_puts_generated_units_where_systemd_does() {
        let o = Outputs::under(Path::new("/run"));
        let dirs: Vec<PathBuf> = [
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/lib/systemd/system",
            "/lib/systemd/system",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let p = o.search_path(&dirs);
        let s: Vec<String> = p.iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            s,
            [
                "/run/systemd/generator.early",
                "/etc/systemd/system",
                "/run/systemd/system",
                "/run/systemd/generator",
                "/usr/lib/systemd/system",
                "/lib/systemd/system",
                "/run/systemd/generator.late",
            ]
        );
    }

    #[test]
    fn generators_run_with_three_directories_and_masks_and_timeouts_hold() {
        let d = tempfile::tempdir().unwrap();
        let (etc, lib) = (d.path().join("etc-gen"), d.path().join("lib-gen"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        let script = |dir: &Path, name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            &lib,
            "a-gen",
            "printf '[Service]\\nExecStart=/bin/true\\n' > \"$1/gen-a.service\"; echo hello from a",
        );
        script(
            &etc,
            "a-gen",
            "printf '[Service]\\nExecStart=/bin/true\\n' > \"$2/early.service\"",
        );
        script(&lib, "masked", "touch \"$1/masked-ran\"");
        std::os::unix::fs::symlink("/dev/null", etc.join("masked")).unwrap();
        script(&lib, "slow", "sleep 30");
        script(&lib, "bad", "exit 3");
        let out = Outputs::under(&d.path().join("run"));
        out.reset().unwrap();
        let found = find(&[etc.clone(), lib.clone()]);
        assert_eq!(
            found,
            [etc.join("a-gen"), lib.join("bad"), lib.join("slow")]
        );
        let t = Instant::now();
        let log = run(&found, &out, Duration::from_millis(500));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(out.early.join("early.service").exists());
        assert!(!out.normal.join("gen-a.service").exists());
        assert!(!out.normal.join("masked-ran").exists());
        assert!(
            log.iter().any(|l| l.contains("generator bad failed")),
            "{log:?}"
        );
        assert!(
            log.iter().any(|l| l.contains("generator slow timed out")),
            "{log:?}"
        );
    }

    #[test]
    fn fstab_cannot_inject_directives_or_links() {
        let (units, notes) = fstab(
            "/dev/vdb /srv\\012ExecStart=/bin/evil ext4 defaults 0 0\n\
             /dev/vdc /data ext4 x-systemd.wanted-by=../../etc/x,x-systemd.after=/etc/x 0 0\n",
            Path::new("/etc/fstab"),
            None,
        );
        assert_eq!(units.len(), 1, "{units:?}");
        assert!(
            notes.iter().any(|n| n.contains("control characters")),
            "{notes:?}"
        );
        assert_eq!(units[0].links, ["local-fs.target.requires"]);
        assert!(!units[0].text.contains("After=/etc"), "{}", units[0].text);
    }

    #[test]
    fn a_pass_number_makes_a_check_the_mount_requires() {
        let (units, _) = fstab(
            "/dev/vdb1 /srv ext4 defaults 0 2\n/dev/vdc /data ext4 defaults 0 0\n",
            Path::new("/etc/fstab"),
            Some(Path::new("/sbin/fsck")),
        );
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            ["systemd-fsck@dev-vdb1.service", "srv.mount", "data.mount"]
        );
        assert!(units[0]
            .text
            .contains("ExecStart=/sbin/fsck -a /dev/vdb1\nSuccessExitStatus=1\n"));
        assert!(units[1].text.contains(
            "Requires=systemd-fsck@dev-vdb1.service\nAfter=systemd-fsck@dev-vdb1.service\n"
        ));
        assert!(!units[2].text.contains("fsck"));
    }
}
