//! cgroup v2: one cgroup per unit under its slice (`/sys/fs/cgroup/b8g/system.slice/
//! nginx.service`), the controllers its resource settings need enabled on the way
//! down, the settings written before its first process joins, and delegation.

use super::*;
use crate::cgroup;

fn read_number(path: &str, field: Option<&str>) -> Option<u64> {
    let t = std::fs::read_to_string(path).ok()?;
    match field {
        None => t.trim().parse().ok(),
        Some(f) => t.lines().find_map(|l| {
            let rest = l.strip_prefix(f)?;
            rest.split_whitespace().next()?.parse().ok()
        }),
    }
}

impl Manager {
    /// Uses cgroup v2 when it is mounted at /sys/fs/cgroup and we may create cgroups
    /// there. Only on a real boot: in tests and containers the hierarchy belongs to others.
    pub(super) fn setup_cgroups(&mut self) -> Option<PathBuf> {
        if !self.cfg.boot {
            return None;
        }
        let base = Path::new("/sys/fs/cgroup");
        if !base.join("cgroup.controllers").exists() {
            let _ = std::fs::create_dir_all(base);
            if do_mount("cgroup2", base, Some("cgroup2"), "nosuid,nodev,noexec").is_err() {
                return None;
            }
        }
        let root = base.join("b8g");
        match std::fs::create_dir_all(&root) {
            Ok(()) => {
                self.say("tracking unit processes with cgroup v2");
                Some(root)
            }
            Err(e) => {
                self.say(&format!(
                    "cgroup v2 unavailable ({e}); tracking processes by process group"
                ));
                None
            }
        }
    }

    fn cgroup_config(&self, n: &str) -> cgroup::CgroupConfig {
        self.set
            .units
            .get(n)
            .and_then(|u| u.service())
            .map(|s| s.exec.cgroup.clone())
            .unwrap_or_default()
    }

    /// The unit's cgroup: where its processes are, or will be put.
    pub(super) fn unit_cgroup(&self, n: &str) -> Option<PathBuf> {
        let root = self.cgroup_root.as_ref()?;
        if let Some(d) = self.rt.get(n).and_then(|r| r.cgroup_dir.clone()) {
            return Some(d);
        }
        Some(cgroup::unit_dir(root, n, &self.cgroup_config(n)))
    }

    /// Makes the unit's cgroup ready for a process: parents made with the controllers
    /// its settings need, the settings written, the directory handed to the service's
    /// user with Delegate=. Returns the directory.
    pub(super) fn prepare_unit_cgroup(&mut self, n: &str) -> Option<PathBuf> {
        let root = self.cgroup_root.clone()?;
        let cfg = self.cgroup_config(n);
        let dir = self.unit_cgroup(n)?;
        let base = root.parent().unwrap_or(&root).to_path_buf();
        // The slices the unit lies in, with the settings of those that have unit files.
        let slices: Vec<(PathBuf, cgroup::CgroupConfig)> = {
            let mut level = root.clone();
            let mut v = Vec::new();
            for s in cgroup::slice_dirs(cfg.slice.as_deref().unwrap_or("system.slice")) {
                level.push(&s);
                // Slices the unit set has (those units are placed in explicitly, and
                // their parents); a unit file of the default system.slice that nothing
                // names is not read for this.
                let c = match self.set.get(&s).map(|u| &u.config) {
                    Some(KindConfig::Slice(c)) => (**c).clone(),
                    _ => cgroup::CgroupConfig::default(),
                };
                v.push((level.clone(), c));
            }
            v
        };
        let mut wanted = cgroup::controllers(&cfg);
        for (_, c) in &slices {
            for ctl in cgroup::controllers(c) {
                if !wanted.contains(&ctl) {
                    wanted.push(ctl);
                }
            }
        }
        let mut problems: Vec<String> = Vec::new();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            self.logs
                .push(n, &format!("cannot create cgroup {}: {e}", dir.display()));
            return None;
        }
        if !wanted.is_empty() {
            // Each level from the hierarchy's root down to the unit's parent passes the
            // controllers on (a cgroup with processes of its own cannot, so units are
            // never parents here).
            let available =
                std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
            let enable: Vec<String> = wanted
                .iter()
                .filter(|c| available.split_whitespace().any(|a| a == **c))
                .map(|c| format!("+{c}"))
                .collect();
            for c in &wanted {
                if !available.split_whitespace().any(|a| a == *c) {
                    problems.push(format!("the {c} controller is not available"));
                }
            }
            let mut level = base.clone();
            let below: Vec<_> = dir
                .strip_prefix(&base)
                .map(|r| r.components().map(|c| c.as_os_str().to_owned()).collect())
                .unwrap_or_default();
            for part in below.iter().take(below.len().saturating_sub(1)) {
                if !enable.is_empty() {
                    if let Err(e) =
                        std::fs::write(level.join("cgroup.subtree_control"), enable.join(" "))
                    {
                        problems.push(format!(
                            "{}: {e}",
                            level.join("cgroup.subtree_control").display()
                        ));
                    }
                }
                level.push(part);
            }
            if !enable.is_empty() {
                let _ = std::fs::write(level.join("cgroup.subtree_control"), enable.join(" "));
            }
        }
        let memory = read_number("/proc/meminfo", Some("MemTotal:")).unwrap_or(0) * 1024;
        let tasks = read_number("/proc/sys/kernel/pid_max", None)
            .unwrap_or(4_194_304)
            .min(read_number("/proc/sys/kernel/threads-max", None).unwrap_or(u64::MAX));
        for (slice_dir, c) in &slices {
            for (file, value) in cgroup::settings(c, memory, tasks) {
                if let Err(e) = std::fs::write(slice_dir.join(file), &value) {
                    problems.push(format!("{}/{file}={value}: {e}", slice_dir.display()));
                }
            }
        }
        for (file, value) in cgroup::settings(&cfg, memory, tasks) {
            if let Err(e) = std::fs::write(dir.join(file), &value) {
                problems.push(format!("{file}={value}: {e}"));
            }
        }
        if cfg.delegate {
            let owner = self
                .set
                .units
                .get(n)
                .and_then(|u| u.service())
                .and_then(|s| exec::context_user(&self.cfg.etc_dir, &s.exec))
                .and_then(Result::ok);
            if let Some(u) = owner {
                for f in [
                    "",
                    "cgroup.procs",
                    "cgroup.subtree_control",
                    "cgroup.threads",
                ] {
                    let p = if f.is_empty() {
                        dir.clone()
                    } else {
                        dir.join(f)
                    };
                    if let Err(e) = std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid)) {
                        problems.push(format!("delegating {}: {e}", p.display()));
                    }
                }
            }
        }
        for p in problems {
            self.logs.push(n, &format!("resource control: {p}"));
        }
        self.rt.entry(n.to_string()).or_default().cgroup_dir = Some(dir.clone());
        Some(dir)
    }

    /// Every process in the unit's cgroup and below it (a delegated unit's own cgroups),
    /// as far as a bounded walk reaches: whether any remain is [`Self::cgroup_populated`]'s
    /// answer, and stopping ends with [`Self::cgroup_kill`].
    pub(super) fn cgroup_procs(&self, n: &str) -> Option<Vec<i32>> {
        let dir = self.unit_cgroup(n)?;
        let mut out = Vec::new();
        let mut todo = vec![dir];
        // Bounded: a delegated service could make vast trees. Only cgroups count.
        let mut budget = 10_000;
        while let Some(d) = todo.pop() {
            let Ok(t) = std::fs::read_to_string(d.join("cgroup.procs")) else {
                continue;
            };
            out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        budget -= 1;
                        if budget == 0 {
                            return Some(out);
                        }
                        todo.push(e.path());
                    }
                }
            }
        }
        Some(out)
    }

    /// Whether any process is left in the unit's cgroup or below it (`cgroup.events`).
    pub(super) fn cgroup_populated(&self, n: &str) -> Option<bool> {
        let dir = self.unit_cgroup(n)?;
        let t = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
        t.lines()
            .find_map(|l| l.strip_prefix("populated "))
            .map(|v| v.trim() == "1")
    }

    /// SIGKILL to every process of the unit's subtree at once (`cgroup.kill`).
    pub(super) fn cgroup_kill(&self, n: &str) {
        if let Some(dir) = self.unit_cgroup(n) {
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        }
    }

    /// Removes the unit's (now empty) cgroup, children first.
    pub(super) fn remove_unit_cgroup(&mut self, n: &str) {
        let Some(dir) = self.unit_cgroup(n) else {
            return;
        };
        fn remove(d: &Path, depth: u32) {
            if depth > 32 {
                return;
            }
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&e.path(), depth + 1);
                    }
                }
            }
            let _ = std::fs::remove_dir(d);
        }
        remove(&dir, 0);
        if let Some(rt) = self.rt.get_mut(n) {
            rt.cgroup_dir = None;
        }
    }
}
