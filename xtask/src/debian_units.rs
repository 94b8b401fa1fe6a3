//! `cargo xtask verify-debian-units [--packages N] [--dir DIR]`: `b8gctl verify`
//! over every unit file Debian 12 packages ship.
//!
//! Packages come from `apt-file` (the Contents index): every binary package with a
//! file under `lib/systemd/system/` or `usr/lib/systemd/system/`. The list is
//! deterministic: the well-known server packages of [`PREFERRED`] first, then the rest
//! in name order, up to N. Each is fetched with `apt-get download` into a cache
//! (default `target/debian-units/`), its unit directories unpacked from
//! `dpkg-deb --fsys-tarfile` (kept as the cache; the `.deb` is then deleted),
//! and its unit files and drop-ins (symlinks are aliases and masks, counted but not
//! read) go to one `b8gctl verify --json` call per package.
//!
//! Nothing is filtered: the table printed on stdout has every error of every unit;
//! which of them need systemd's own daemons is said in docs/status.md, not here.
//! This does not start any unit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Server packages looked at first, in this order, when the index has them.
const PREFERRED: &[&str] = &[
    "openssh-server",
    "nginx-common",
    "postgresql-15",
    "postgresql-common",
    "mariadb-server",
    "redis-server",
    "cron",
    "chrony",
    "rsyslog",
    "apache2",
    "bind9",
    "dnsmasq-base",
    "dnsmasq",
    "exim4-base",
    "postfix",
    "dovecot-core",
    "nfs-kernel-server",
    "nfs-common",
    "samba",
    "winbind",
    "haproxy",
    "memcached",
    "squid",
    "varnish",
    "lighttpd",
    "mosquitto",
    "rabbitmq-server",
    "isc-dhcp-server",
    "isc-kea-dhcp4-server",
    "openvpn",
    "wireguard-tools",
    "fail2ban",
    "ufw",
    "nftables",
    "iptables-persistent",
    "netfilter-persistent",
    "ntpsec",
    "ntp",
    "openntpd",
    "unbound",
    "knot",
    "pdns-server",
    "slapd",
    "krb5-kdc",
    "cups-daemon",
    "avahi-daemon",
    "dbus",
    "dbus-daemon",
    "udisks2",
    "polkitd",
    "accountsservice",
    "network-manager",
    "ifupdown",
    "smartmontools",
    "lm-sensors",
    "fancontrol",
    "irqbalance",
    "acpid",
    "anacron",
    "atd",
    "at",
    "logrotate",
    "man-db",
    "apt",
    "e2fsprogs",
    "fstrim",
    "util-linux",
    "lvm2",
    "mdadm",
    "multipath-tools",
    "open-iscsi",
    "tgt",
    "targetcli-fb",
    "zfsutils-linux",
    "docker.io",
    "containerd",
    "podman",
    "libvirt-daemon-system",
    "qemu-guest-agent",
    "open-vm-tools",
    "cloud-init",
    "prometheus",
    "prometheus-node-exporter",
    "grafana",
    "zabbix-agent",
    "nagios-nrpe-server",
    "munin-node",
    "collectd-core",
    "sysstat",
    "auditd",
    "apparmor",
    "clamav-daemon",
    "clamav-freshclam",
    "spamassassin",
    "opendkim",
    "postgrey",
    "tomcat10",
    "jetty9",
    "php8.2-fpm",
    "uwsgi",
    "gunicorn",
    "vsftpd",
    "proftpd-core",
    "pure-ftpd",
    "tftpd-hpa",
    "rsync",
    "saned",
    "mpd",
    "minidlna",
    "transmission-daemon",
    "tor",
    "i2pd",
    "stunnel4",
    "keepalived",
    "corosync",
    "pacemaker",
    "glusterfs-server",
    "ceph-common",
    "etcd-server",
    "influxdb",
    "mongodb-server",
    "couchdb",
    "elasticsearch",
    "nut-server",
    "nut-client",
    "apcupsd",
    "gpm",
    "console-setup",
    "keyboard-configuration",
    "kbd",
    "ssh-audit",
    "sudo",
    "quota",
    "rpcbind",
    "autofs",
    "nis",
    "sssd-common",
    "nscd",
    "unattended-upgrades",
    "needrestart",
    "firewalld",
    "openipmi",
    "ipmitool",
    "rasdaemon",
    "mcelog",
    "thermald",
    "tlp",
    "powertop",
    "uuid-runtime",
    "haveged",
    "rng-tools5",
    "rng-tools-debian",
    "pcscd",
    "bluez",
    "wpasupplicant",
    "hostapd",
    "modemmanager",
    "ppp",
    "dictd",
];

/// What one package gave.
#[derive(Debug, Default)]
pub struct PackageResult {
    pub package: String,
    /// Unit files and drop-ins that were verified (paths relative to the unpacked tree).
    pub units: Vec<String>,
    /// Symlinks (aliases, masks, `.wants/` links): counted, not verified.
    pub links: usize,
    /// Every diagnostic b8gctl printed, as (file, line-qualified location, error, message).
    pub diags: Vec<Diag>,
    /// Set when the package could not be fetched or unpacked.
    pub broken: Option<String>,
}

/// One diagnostic of `b8gctl verify --json`, tied to the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub file: String,
    pub location: String,
    pub error: bool,
    pub message: String,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut packages = 150usize;
    let mut dir = crate::root().join("target/debian-units");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--packages" => {
                packages = it
                    .next()
                    .context("--packages needs a number")?
                    .parse()
                    .context("--packages needs a number")?
            }
            "--dir" => dir = PathBuf::from(it.next().context("--dir needs a directory")?),
            other => bail!(
                "unknown option {other:?}: cargo xtask verify-debian-units [--packages N] [--dir DIR]"
            ),
        }
    }
    crate::ensure_apt_lists()?;
    crate::ensure_packages(&["apt-file"])?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let index = unit_index(&dir)?;
    let chosen = choose(&index, packages);
    if chosen.len() < packages {
        eprintln!(
            "only {} packages with unit files in the index",
            chosen.len()
        );
    }
    crate::run(crate::cargo().args(["build", "-p", "b8g-init", "--bin", "b8gctl"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    let b8gctl = target.join("debug/b8gctl");
    let debs = dir.join("debs");
    download(&debs, &dir.join("trees"), &chosen)?;
    let mut results = Vec::new();
    for pkg in &chosen {
        results.push(verify_package(&b8gctl, &debs, &dir.join("trees"), pkg));
    }
    print!("{}", report(&results));
    Ok(())
}

/// `package -> unit paths` from apt-file, cached as `DIR/index.txt`.
fn unit_index(dir: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let cache = dir.join("index.txt");
    let text = match std::fs::read_to_string(&cache) {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let search = || {
                Command::new("apt-file")
                    .args(["search", "--regexp", "^/(usr/)?lib/systemd/system/"])
                    .output()
            };
            let mut out = search().context("cannot run apt-file")?;
            if out.stdout.is_empty() {
                crate::run(Command::new("apt-file").arg("update"))?;
                out = search().context("cannot run apt-file")?;
            }
            if out.stdout.is_empty() {
                bail!(
                    "apt-file found no unit files: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let t = String::from_utf8_lossy(&out.stdout).into_owned();
            std::fs::write(&cache, &t)?;
            t
        }
    };
    Ok(parse_apt_file(&text))
}

/// Parses `apt-file search` lines (`package: /path`).
pub fn parse_apt_file(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((pkg, path)) = line.split_once(": ") {
            map.entry(pkg.trim().to_string())
                .or_default()
                .push(path.trim().to_string());
        }
    }
    map
}

/// [`PREFERRED`] packages the index has, then the others by name, `n` in all.
pub fn choose(index: &BTreeMap<String, Vec<String>>, n: usize) -> Vec<String> {
    let mut out: Vec<String> = PREFERRED
        .iter()
        .filter(|p| index.contains_key(**p))
        .map(|p| p.to_string())
        .collect();
    out.truncate(n);
    for p in index.keys() {
        if out.len() >= n {
            break;
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// `apt-get download` of the packages not yet in `debs`.
fn download(debs: &Path, trees: &Path, pkgs: &[String]) -> Result<()> {
    std::fs::create_dir_all(debs)?;
    let missing: Vec<&String> = pkgs
        .iter()
        .filter(|p| find_deb(debs, p).is_none() && !trees.join(p).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // apt-get's progress goes to stderr: stdout is the table.
    let all = Command::new("apt-get")
        .arg("download")
        .args(&missing)
        .current_dir(debs)
        .stdout(std::io::stderr())
        .status()
        .context("cannot run apt-get download")?;
    if !all.success() {
        // One unknown name fails the whole call: fetch the rest one by one.
        for p in missing {
            if find_deb(debs, p).is_none() {
                let _ = Command::new("apt-get")
                    .args(["download", p])
                    .current_dir(debs)
                    .stdout(std::io::stderr())
                    .status();
            }
        }
    }
    Ok(())
}

fn find_deb(debs: &Path, pkg: &str) -> Option<PathBuf> {
    let prefix = format!("{pkg}_");
    std::fs::read_dir(debs)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
}

fn verify_package(b8gctl: &Path, debs: &Path, trees: &Path, pkg: &str) -> PackageResult {
    let mut r = PackageResult {
        package: pkg.to_string(),
        ..Default::default()
    };
    if let Err(e) = unpack_and_verify(b8gctl, debs, trees, pkg, &mut r) {
        r.broken = Some(format!("{e:#}"));
    }
    r
}

fn unpack_and_verify(
    b8gctl: &Path,
    debs: &Path,
    trees: &Path,
    pkg: &str,
    r: &mut PackageResult,
) -> Result<()> {
    let tree = trees.join(pkg);
    if !tree.exists() {
        let deb = find_deb(debs, pkg).context("not downloaded")?;
        let tmp = trees.join(format!(".{pkg}.partial"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        // Only the unit directories are unpacked (whole packages take gigabytes).
        let st = Command::new("sh")
            .arg("-c")
            .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" --wildcards --no-anchored 'lib/systemd/system/*'")
            .arg("sh")
            .arg(&deb)
            .arg(&tmp)
            .status()?;
        if !st.success() {
            bail!("unpacking the unit files of {} failed", deb.display());
        }
        std::fs::rename(&tmp, &tree)?;
        // The unpacked units are the cache from now on.
        std::fs::remove_file(&deb)?;
    }
    for sub in ["lib/systemd/system", "usr/lib/systemd/system"] {
        collect(&tree, &tree.join(sub), r)?;
    }
    r.units.sort();
    if r.units.is_empty() {
        return Ok(());
    }
    let out = Command::new(b8gctl)
        .args(["verify", "--json"])
        .args(&r.units)
        .current_dir(&tree)
        .output()
        .context("cannot run b8gctl verify")?;
    let text = String::from_utf8_lossy(&out.stdout);
    r.diags = parse_diags(&text, &r.units).with_context(|| {
        format!(
            "b8gctl verify printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(())
}

/// Regular files under `dir` (recursively) as paths relative to `tree`; symlinks counted.
fn collect(tree: &Path, dir: &Path, r: &mut PackageResult) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let e = e?;
        let ft = e.file_type()?;
        let p = e.path();
        if ft.is_symlink() {
            r.links += 1;
        } else if ft.is_dir() {
            collect(tree, &p, r)?;
        } else {
            let rel = p
                .strip_prefix(tree)
                .expect("collected below the tree")
                .to_string_lossy()
                .into_owned();
            r.units.push(rel);
        }
    }
    Ok(())
}

/// Parses `b8gctl verify --json` output and ties each diagnostic to the unit file it
/// names (its location is `FILE` or `FILE:LINE`).
pub fn parse_diags(json: &str, units: &[String]) -> Result<Vec<Diag>> {
    let v: serde_json::Value = serde_json::from_str(json.trim())?;
    let arr = v.as_array().context("not a JSON array")?;
    let mut out = Vec::new();
    for d in arr {
        let location = d["location"].as_str().unwrap_or_default().to_string();
        let file = units
            .iter()
            .filter(|u| {
                location == **u
                    || location
                        .strip_prefix(u.as_str())
                        .is_some_and(|rest| rest.starts_with(':'))
            })
            .max_by_key(|u| u.len())
            .cloned()
            .unwrap_or_else(|| location.clone());
        out.push(Diag {
            file,
            location,
            error: d["error"].as_bool().unwrap_or(false),
            message: d["message"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(out)
}

/// The kind of an error: its message with quoted names, paths and numbers taken out,
/// so the same fault in different units groups together.
pub fn error_kind(message: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push('…');
                out.push(c);
            }
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                quote = Some(c);
                out.push(c);
            }
            None => out.push(c),
        }
    }
    // A directive's value after "=" varies; its name is the kind.
    out.split_whitespace()
        .map(|w| {
            if w.starts_with('/') {
                "PATH".to_string()
            } else if let Some((k, _)) = w.split_once('=').filter(|(_, v)| !v.is_empty()) {
                format!("{k}=…")
            } else if w.chars().all(|c| c.is_ascii_digit()) {
                "N".to_string()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table: totals, errors by kind, then each failing unit with its messages.
pub fn report(results: &[PackageResult]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let pkgs = results.len();
    let broken: Vec<&PackageResult> = results.iter().filter(|r| r.broken.is_some()).collect();
    let units: usize = results.iter().map(|r| r.units.len()).sum();
    let links: usize = results.iter().map(|r| r.links).sum();
    let mut failing: BTreeMap<(String, String), Vec<&Diag>> = BTreeMap::new();
    let mut warned = 0usize;
    for r in results {
        for d in &r.diags {
            if d.error {
                failing
                    .entry((r.package.clone(), d.file.clone()))
                    .or_default()
                    .push(d);
            }
        }
        warned += r
            .units
            .iter()
            .filter(|u| r.diags.iter().any(|d| !d.error && &d.file == *u))
            .count();
    }
    let clean = units - failing.len();
    let _ = writeln!(s, "packages        {pkgs}");
    let _ = writeln!(s, "  not verified  {}", broken.len());
    let _ = writeln!(
        s,
        "unit files      {units} (and {links} symlinks: aliases, masks, .wants/ links, not read)"
    );
    let _ = writeln!(
        s,
        "  clean         {clean} (no error; {warned} of all units have warnings)"
    );
    let _ = writeln!(s, "  with errors   {}", failing.len());
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for diags in failing.values() {
        let mut seen = std::collections::BTreeSet::new();
        for d in diags {
            let k = error_kind(&d.message);
            let e = kinds.entry(k.clone()).or_default();
            e.0 += 1;
            if seen.insert(k) {
                e.1 += 1;
            }
        }
    }
    if !kinds.is_empty() {
        let _ = writeln!(s, "\nerrors by kind (errors, units):");
        let mut sorted: Vec<_> = kinds.into_iter().collect();
        sorted.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        for (k, (n, u)) in sorted {
            let _ = writeln!(s, "  {n:4} {u:4}  {k}");
        }
        let _ = writeln!(s, "\nfailing units:");
        for ((pkg, file), diags) in &failing {
            let _ = writeln!(s, "  {pkg}: {file}");
            for d in diags {
                let _ = writeln!(s, "      {}: {}", d.location, d.message);
            }
        }
    }
    if !broken.is_empty() {
        let _ = writeln!(s, "\npackages not verified:");
        for r in broken {
            let _ = writeln!(
                s,
                "  {}: {}",
                r.package,
                r.broken.as_deref().unwrap_or_default()
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_choice_and_report_on_a_fixture() {
        let index = parse_apt_file(
            "zz-extra: /lib/systemd/system/zz.service\n\
             cron: /lib/systemd/system/cron.service\n\
             aa-extra: /usr/lib/systemd/system/aa.timer\n\
             openssh-server: /lib/systemd/system/ssh.service\n\
             openssh-server: /lib/systemd/system/ssh@.service\n",
        );
        assert_eq!(index["openssh-server"].len(), 2);
        assert_eq!(
            choose(&index, 3),
            ["openssh-server", "cron", "aa-extra"],
            "preferred first, then by name"
        );
        let units = vec![
            "lib/systemd/system/ssh.service".to_string(),
            "lib/systemd/system/ssh@.service".to_string(),
        ];
        let json = r#"[{"location":"lib/systemd/system/ssh@.service:7","error":true,"message":"unknown directive \"Frob=1\""},
                       {"location":"lib/systemd/system/ssh.service:3","error":false,"message":"ignored"}]"#;
        let diags = parse_diags(json, &units).expect("fixture JSON");
        assert_eq!(diags[0].file, "lib/systemd/system/ssh@.service");
        assert_eq!(diags[1].file, "lib/systemd/system/ssh.service");
        let results = vec![
            PackageResult {
                package: "openssh-server".into(),
                units,
                links: 1,
                diags,
                broken: None,
            },
            PackageResult {
                package: "cron".into(),
                broken: Some("not downloaded".into()),
                ..Default::default()
            },
        ];
        let table = report(&results);
        assert!(table.contains("packages        2\n"), "{table}");
        assert!(table.contains("  not verified  1\n"), "{table}");
        assert!(
            table.contains("unit files      2 (and 1 symlinks"),
            "{table}"
        );
        assert!(
            table.contains("  clean         1 (no error; 1 of"),
            "{table}"
        );
        assert!(
            table.contains("     1    1  unknown directive \"…\""),
            "{table}"
        );
        assert!(table.contains("  openssh-server: lib/systemd/system/ssh@.service\n      lib/systemd/system/ssh@.service:7: unknown directive \"Frob=1\""), "{table}");
        assert!(table.contains("  cron: not downloaded"), "{table}");
    }

    #[test]
    fn error_kinds_drop_what_varies() {
        assert_eq!(
            error_kind("unknown directive ProtectProc=invisible in [Service]"),
            "unknown directive ProtectProc=… in [Service]"
        );
        assert_eq!(
            error_kind("socket has no Listen…= setting"),
            "socket has no Listen…= setting"
        );
        assert_eq!(
            error_kind("cannot read /x/y: 2 files"),
            "cannot read PATH N files"
        );
    }
}
