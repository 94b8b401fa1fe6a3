//! `b8gctl switch TOPLEVEL`: activate another generation on the running system.
//!
//! Compares the unit files of the running generation (`/run/current-system`)
//! with the new one's, then, talking to b8g-init over its control socket:
//! stops units that are gone, runs the new `activate` (which re-points
//! `/etc/static` and `/run/current-system`, where b8g-init reads its units
//! from), reloads the units, restarts changed ones that were running (or
//! reloads them, or leaves them running, as `X-ReloadIfChanged=yes` and
//! `X-RestartIfChanged=no` in the new unit ask), and starts new ones some
//! target wants. Finally it says which changes only a
//! reboot applies: the kernel, its modules or command line, the initrd, or
//! b8g-init itself.
//!
//! Targets are never restarted, and neither is `b8g-boot-check.service` (it
//! judges a boot, not a switch).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use b8g_layout::generation::toplevel;

use crate::control::{call, Command as ControlCommand, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Control(String),
    #[error("{0}/activate failed: {1}")]
    Activate(String, String),
}

/// What a switch does to units, and what it cannot do without a reboot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub stop: Vec<String>,
    pub restart: Vec<String>,
    /// Changed units with `X-ReloadIfChanged=yes`.
    pub reload: Vec<String>,
    /// Changed units with `X-RestartIfChanged=no`: left running as they are.
    pub keep: Vec<String>,
    pub start: Vec<String>,
    /// Parts that differ and take effect only at the next boot.
    pub reboot_needed: Vec<String>,
}

/// Unit files of a units directory by name (contents, links followed), and the
/// names some `X.wants/` or `X.requires/` directory pulls in.
/// Unit file contents by name, and the names pulled in by `.wants`/`.requires` links.
type Units = (BTreeMap<String, Vec<u8>>, BTreeSet<String>);

fn units(dir: &Path) -> Result<Units, SwitchError> {
    let mut files = BTreeMap::new();
    let mut wanted = BTreeSet::new();
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((files, wanted)),
        Err(source) => {
            return Err(SwitchError::Read {
                path: dir.into(),
                source,
            })
        }
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        if path.is_dir() {
            if name.ends_with(".wants") || name.ends_with(".requires") {
                for w in fs::read_dir(&path).into_iter().flatten().flatten() {
                    wanted.insert(w.file_name().to_string_lossy().to_string());
                }
            }
            continue;
        }
        if let Ok(bytes) = fs::read(&path) {
            files.insert(name, bytes);
        }
    }
    Ok((files, wanted))
}

fn keep_running(name: &str) -> bool {
    name.ends_with(".target") || name == "b8g-boot-check.service"
}

/// The value of `key=` in a unit file as a boolean (any section; the last wins).
fn unit_flag(unit: &[u8], key: &str) -> Option<bool> {
    String::from_utf8_lossy(unit)
        .lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .filter_map(|v| match v.trim() {
            "1" | "yes" | "true" | "on" => Some(true),
            "0" | "no" | "false" | "off" => Some(false),
            _ => None,
        })
        .next()
}

/// Plans the switch from toplevel `old` to `new` (unit files and boot parts only).
pub fn plan(old: &Path, new: &Path) -> Result<Plan, SwitchError> {
    let (a, _) = units(&old.join("units"))?;
    let (b, wanted) = units(&new.join("units"))?;
    let mut p = Plan::default();
    for (name, bytes) in &a {
        match b.get(name) {
            None => p.stop.push(name.clone()),
            Some(nb) if nb != bytes && !keep_running(name) => {
                // As NixOS's switch does: reloading wins over not restarting.
                if unit_flag(nb, "X-ReloadIfChanged") == Some(true) {
                    p.reload.push(name.clone());
                } else if unit_flag(nb, "X-RestartIfChanged") == Some(false) {
                    p.keep.push(name.clone());
                } else {
                    p.restart.push(name.clone());
                }
            }
            Some(_) => {}
        }
    }
    for name in b.keys() {
        if !a.contains_key(name) && wanted.contains(name) {
            p.start.push(name.clone());
        }
    }
    for part in [
        toplevel::KERNEL,
        "kernel-modules",
        toplevel::INITRD,
        toplevel::INIT,
    ] {
        if fs::read_link(old.join(part)).ok() != fs::read_link(new.join(part)).ok() {
            p.reboot_needed.push(part.to_string());
        }
    }
    let params = toplevel::KERNEL_PARAMS;
    if fs::read(old.join(params)).ok() != fs::read(new.join(params)).ok() {
        p.reboot_needed.push(params.to_string());
    }
    Ok(p)
}

fn request(
    socket: &Path,
    cmd: ControlCommand,
    units: Vec<String>,
) -> Result<Response, SwitchError> {
    let r =
        call(socket, &Request::new(cmd, units)).map_err(|e| SwitchError::Control(e.to_string()))?;
    if !r.ok {
        return Err(SwitchError::Control(format!(
            "{}: {}",
            cmd.name(),
            r.error.unwrap_or_default()
        )));
    }
    Ok(r)
}

/// Active state and whether a job is pending, per unit.
fn states(socket: &Path, units: &[String]) -> Result<Vec<(String, bool)>, SwitchError> {
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let r = request(socket, ControlCommand::Status, units.to_vec())?;
    Ok(r.data
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| {
                    (
                        u["active"].as_str().unwrap_or("").to_string(),
                        !u["job"].is_null(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Waits until none of `units` has a job; returns those that ended failed.
fn settle(socket: &Path, units: &[String], timeout: Duration) -> Result<Vec<String>, SwitchError> {
    let start = Instant::now();
    loop {
        let st = states(socket, units)?;
        if st.iter().all(|(_, job)| !job) || start.elapsed() > timeout {
            return Ok(units
                .iter()
                .zip(st)
                .filter(|(_, (a, job))| a == "failed" || *job)
                .map(|(n, _)| n.clone())
                .collect());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Switches the running system to `new`; prints what it did. Returns the exit code.
pub fn switch(socket: &Path, new: &Path, current: &Path) -> Result<i32, SwitchError> {
    let old = fs::read_link(current).map_err(|source| SwitchError::Read {
        path: current.into(),
        source,
    })?;
    let p = plan(&old, new)?;
    let active = |names: &[String]| -> Result<Vec<String>, SwitchError> {
        Ok(names
            .iter()
            .zip(states(socket, names)?)
            .filter(|(_, (a, _))| matches!(a.as_str(), "active" | "activating" | "reloading"))
            .map(|(n, _)| n.clone())
            .collect())
    };
    let stop = active(&p.stop)?;
    let restart = active(&p.restart)?;
    let reload = active(&p.reload)?;
    if !stop.is_empty() {
        request(socket, ControlCommand::Stop, stop.clone())?;
        settle(socket, &stop, Duration::from_secs(60))?;
    }
    let out = Command::new(new.join("activate"))
        .arg(new)
        .output()
        .map_err(|e| SwitchError::Activate(new.display().to_string(), e.to_string()))?;
    if !out.status.success() {
        return Err(SwitchError::Activate(
            new.display().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    request(socket, ControlCommand::DaemonReload, vec![])?;
    if !restart.is_empty() {
        request(socket, ControlCommand::Restart, restart.clone())?;
    }
    if !reload.is_empty() {
        request(socket, ControlCommand::Reload, reload.clone())?;
    }
    if !p.start.is_empty() {
        request(socket, ControlCommand::Start, p.start.clone())?;
    }
    let mut touched = restart.clone();
    touched.extend(reload.iter().cloned());
    touched.extend(p.start.iter().cloned());
    let failed = settle(socket, &touched, Duration::from_secs(60))?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" ")
        }
    };
    println!("stopped: {}", list(&stop));
    println!("restarted: {}", list(&restart));
    if !reload.is_empty() {
        println!("reloaded: {}", list(&reload));
    }
    if !p.keep.is_empty() {
        println!(
            "changed but left running (X-RestartIfChanged=no): {}",
            list(&p.keep)
        );
    }
    println!("started: {}", list(&p.start));
    if !p.reboot_needed.is_empty() {
        println!(
            "reboot needed for: {} (they take effect at the next boot)",
            p.reboot_needed.join(" ")
        );
    }
    if !failed.is_empty() {
        println!("failed: {}", failed.join(" "));
        return Ok(4);
    }
    Ok(0)
}

/// `b8gctl switch TOPLEVEL`.
pub fn main(socket: &Path, args: &[String]) -> Result<i32, SwitchError> {
    let [top] = args else {
        return Err(SwitchError::Control("usage: b8gctl switch TOPLEVEL".into()));
    };
    switch(socket, Path::new(top), Path::new("/run/current-system"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plan_stops_removed_restarts_changed_starts_wanted_new() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        for (t, files) in [
            (
                &a,
                vec![
                    ("same.service", "x"),
                    ("changed.service", "1"),
                    ("getty.service", "[Service]\n"),
                    ("web.service", "[Service]\n"),
                    ("gone.service", "g"),
                    ("multi-user.target", "t"),
                ],
            ),
            (
                &b,
                vec![
                    ("same.service", "x"),
                    ("changed.service", "2"),
                    ("getty.service", "[Service]\nX-RestartIfChanged=no\n"),
                    (
                        "web.service",
                        "[Service]\nX-RestartIfChanged=no\nX-ReloadIfChanged=yes\n",
                    ),
                    ("new.service", "n"),
                    ("extra.service", "e"),
                    ("multi-user.target", "t2"),
                ],
            ),
        ] {
            fs::create_dir_all(t.join("units/multi-user.target.wants")).unwrap();
            for (n, c) in files {
                fs::write(t.join("units").join(n), c).unwrap();
            }
            symlink("/k1", t.join("kernel")).unwrap();
        }
        symlink(
            "../new.service",
            b.join("units/multi-user.target.wants/new.service"),
        )
        .unwrap();
        fs::remove_file(b.join("kernel")).unwrap();
        symlink("/k2", b.join("kernel")).unwrap();
        let p = plan(&a, &b).unwrap();
        assert_eq!(p.stop, ["gone.service"]);
        assert_eq!(p.restart, ["changed.service"]);
        assert_eq!(p.reload, ["web.service"]);
        assert_eq!(p.keep, ["getty.service"]);
        assert_eq!(p.start, ["new.service"]);
        assert_eq!(p.reboot_needed, ["kernel"]);
    }
}
