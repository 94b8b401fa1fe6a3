//! `.mount` units, and unmounting at shutdown.

use super::*;

/// Whether `p` is where a file system is mounted (a line of /proc/self/mountinfo).
pub(super) fn is_mount_point(p: &Path) -> bool {
    let Ok(real) = p.canonicalize() else {
        return false;
    };
    let real = real.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().nth(4) == Some(real.as_str()))
        })
        .unwrap_or(false)
}

/// Whether the file system holding `p` is mounted read-write.
pub(super) fn is_read_write(p: &Path) -> bool {
    let Ok(c) = cstring(&p.display().to_string()) else {
        return false;
    };
    // SAFETY: statvfs fills a zeroed struct through a valid pointer.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY == 0
    }
}

/// Unmounts everything but the root in reverse mount order, each attempt bounded in
/// time by running it in a child; what cannot be unmounted is remounted read-only.
pub(super) fn unmount_all(m: &mut Manager) {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut targets: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .collect();
    targets.reverse();
    for t in targets {
        if t == "/"
            || t == "/proc"
            || t == "/sys"
            || t == "/dev"
            || t.starts_with("/dev/")
            || t.starts_with("/sys/")
            || t.starts_with("/proc/")
        {
            continue;
        }
        let ok = bounded(Duration::from_secs(5), || umount(Path::new(&t), 0).is_ok());
        if !ok {
            let ro = bounded(Duration::from_secs(5), || {
                do_mount("none", Path::new(&t), None, "remount,ro").is_ok()
            });
            m.say(&format!(
                "could not unmount {t}; {}",
                if ro {
                    "remounted read-only"
                } else {
                    "remount read-only failed too"
                }
            ));
        }
    }
    let _ = bounded(Duration::from_secs(5), || {
        do_mount("none", Path::new("/"), None, "remount,ro").is_ok()
    });
}

impl Manager {
    pub(super) fn mount_start(&mut self, u: &Unit) {
        let n = u.name.clone();
        let KindConfig::Mount(m) = &u.config else {
            return;
        };
        // Something is mounted there already (`/` as -.mount, what stage 1 mounted):
        // systemd takes the mount unit as active from mountinfo and mounts nothing.
        if is_mount_point(&m.where_) {
            self.set_state(&n, ActiveState::Active, "mounted");
            self.finish_job(&n, JobResult::Done);
            return;
        }
        let _ = std::fs::create_dir_all(&m.where_);
        match do_mount(
            &m.what,
            &m.where_,
            m.fs_type.as_deref(),
            m.options.as_deref().unwrap_or(""),
        ) {
            Ok(()) => {
                self.set_state(&n, ActiveState::Active, "mounted");
                self.finish_job(&n, JobResult::Done);
            }
            Err(e) => {
                self.logs.push(
                    &n,
                    &format!("mount {} on {}: {e}", m.what, m.where_.display()),
                );
                self.rt.entry(n.clone()).or_default().result = Some(format!("mount: {e}"));
                self.set_state(&n, ActiveState::Failed, "failed");
                self.finish_job(&n, JobResult::Failed);
            }
        }
    }

    // ---------------------------------------------------------------- control
}
