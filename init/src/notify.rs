//! Who may tell PID 1 what over the sd_notify socket.
//!
//! A datagram on the notify socket is attributed to a unit only by what the kernel
//! says about its sender (`SCM_CREDENTIALS`: pid and uid) and by the unit's own
//! processes (its cgroup when units have one, otherwise its main and control
//! processes, their descendants and their process groups). What the sender says
//! about itself (`B8G_INVOCATION`, `NOTIFY_SOCKET` in its environment) is never used.
//! `NotifyAccess=` then decides which of the unit's processes are heard, and
//! `MAINPID=` is accepted only for a process of the unit, or from a root sender, as
//! systemd does (`service_notify_message` / `service_is_suitable_main_pid`).
//!
//! This module holds the rules and the `/proc` reading they need; the supervisor
//! owns the socket and the units' runtime state.

use crate::unit::NotifyAccess;

/// How deep the parent walk goes before it gives up: a unit's process tree deeper than
/// this is not attributed (a loop in a racing `/proc` read cannot hold PID 1 either).
pub const MAX_ANCESTRY: usize = 64;

/// What a sender is to the unit it was attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderRole {
    /// The unit's main process.
    Main,
    /// The process of an ExecStartPre=/ExecStartPost=/ExecReload=/ExecStop= command.
    Control,
    /// Any other process of the unit (a child, a helper like `b8gctl notify`).
    Other,
}

/// The kernel's word on who sent a datagram (`SCM_CREDENTIALS`, in our pid namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    pub pid: i32,
    pub uid: u32,
}

/// Whether `NotifyAccess=` lets a sender in this role be heard (systemd.service(5)).
pub fn authorized(access: NotifyAccess, role: SenderRole) -> bool {
    match access {
        NotifyAccess::None => false,
        NotifyAccess::Main => role == SenderRole::Main,
        NotifyAccess::Exec => matches!(role, SenderRole::Main | SenderRole::Control),
        NotifyAccess::All => true,
    }
}

/// Why a new main pid (`MAINPID=`, a PID file) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MainPidRefused {
    #[error("{value:?} is not a pid")]
    NotAPid { value: String },
    #[error("pid {pid} is the service manager itself")]
    Manager { pid: i32 },
    #[error("pid {pid} is the unit's control process")]
    Control { pid: i32 },
    #[error("pid {pid} is not a running process")]
    NotRunning { pid: i32 },
    #[error("pid {pid} does not belong to the unit and {voucher} is not root")]
    NotOurs { pid: i32, voucher: String },
}

/// What PID 1 knows of the unit a `MAINPID=` is about.
pub struct MainPidCheck {
    pub manager_pid: i32,
    pub control_pid: Option<i32>,
    /// Whether the candidate is a process of the unit (cgroup or process tree).
    pub belongs: bool,
    pub alive: bool,
}

/// systemd's rule: a main pid must be alive, not the manager, not the control process,
/// and a process of the unit, unless root vouches for it (a root sender, a PID file
/// owned by root). `voucher` names who spoke, for the error.
pub fn check_main_pid(
    value: &str,
    root_vouches: bool,
    voucher: impl FnOnce() -> String,
    c: &MainPidCheck,
) -> Result<i32, MainPidRefused> {
    let pid: i32 = value
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| MainPidRefused::NotAPid {
            value: value.chars().take(32).collect(),
        })?;
    if pid == c.manager_pid {
        return Err(MainPidRefused::Manager { pid });
    }
    if Some(pid) == c.control_pid {
        return Err(MainPidRefused::Control { pid });
    }
    if !c.alive {
        return Err(MainPidRefused::NotRunning { pid });
    }
    if !c.belongs && !root_vouches {
        return Err(MainPidRefused::NotOurs {
            pid,
            voucher: voucher(),
        });
    }
    Ok(pid)
}

/// (state, ppid, pgid, sid) of a process from `/proc/<pid>/stat`.
pub fn stat(pid: i32) -> Option<(char, i32, i32, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgid = f.next()?.parse().ok()?;
    let sid = f.next()?.parse().ok()?;
    Some((state, ppid, pgid, sid))
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|(st, ..)| st != 'Z' && st != 'X')
}

/// The first ancestor of `pid` (itself included) for which `hit` holds, walking
/// `/proc/<pid>/stat` parent links at most [`MAX_ANCESTRY`] steps and never past
/// `stop` (PID 1: everything orphaned ends there and must not match through it).
pub fn find_ancestor(pid: i32, stop: i32, mut hit: impl FnMut(i32) -> bool) -> Option<i32> {
    let mut p = pid;
    for _ in 0..MAX_ANCESTRY {
        if p <= 0 || p == stop {
            return None;
        }
        if hit(p) {
            return Some(p);
        }
        p = stat(p)?.1;
    }
    None
}

/// The cgroup v2 path of a process (`0::<path>` in `/proc/<pid>/cgroup`).
pub fn cgroup_of(pid: i32) -> Option<String> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The unit cgroup directory name a cgroup path lies in, below `root` (e.g. `/b8g`):
/// the first level that is not a slice (deeper levels are a delegated unit's own).
pub fn unit_dir_in<'a>(cgroup: &'a str, root: &str) -> Option<&'a str> {
    let rest = cgroup.strip_prefix(root)?.strip_prefix('/')?;
    rest.split('/')
        .find(|s| !s.ends_with(".slice"))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const ROOT: bool = true;
    const NOBODY: bool = false;

    fn main_pid(value: &str, root: bool, c: &MainPidCheck) -> Result<i32, MainPidRefused> {
        check_main_pid(value, root, || "the sender (uid 65534)".into(), c)
    }

    fn check(belongs: bool, alive: bool) -> MainPidCheck {
        MainPidCheck {
            manager_pid: 1,
            control_pid: Some(7),
            belongs,
            alive,
        }
    }

    #[test]
    fn notify_access_matches_systemd() {
        for role in [SenderRole::Main, SenderRole::Control, SenderRole::Other] {
            assert!(!authorized(NotifyAccess::None, role));
            assert!(authorized(NotifyAccess::All, role));
        }
        assert!(authorized(NotifyAccess::Main, SenderRole::Main));
        assert!(!authorized(NotifyAccess::Main, SenderRole::Control));
        assert!(!authorized(NotifyAccess::Main, SenderRole::Other));
        assert!(authorized(NotifyAccess::Exec, SenderRole::Main));
        assert!(authorized(NotifyAccess::Exec, SenderRole::Control));
        assert!(!authorized(NotifyAccess::Exec, SenderRole::Other));
    }

    #[test]
    fn mainpid_from_non_root_must_belong_to_the_unit() {
        assert_eq!(main_pid("42", NOBODY, &check(true, true)), Ok(42));
        assert_eq!(
            main_pid("42", NOBODY, &check(false, true)),
            Err(MainPidRefused::NotOurs {
                pid: 42,
                voucher: "the sender (uid 65534)".into()
            })
        );
        // Root may vouch for a process outside the unit, as in systemd.
        assert_eq!(main_pid("42", ROOT, &check(false, true)), Ok(42));
    }

    #[test]
    fn mainpid_never_the_manager_the_control_process_or_a_dead_pid() {
        for s in [ROOT, NOBODY] {
            assert!(matches!(
                main_pid("1", s, &check(true, true)),
                Err(MainPidRefused::Manager { .. })
            ));
            assert!(matches!(
                main_pid("7", s, &check(true, true)),
                Err(MainPidRefused::Control { .. })
            ));
            assert!(matches!(
                main_pid("42", s, &check(true, false)),
                Err(MainPidRefused::NotRunning { .. })
            ));
            for bad in ["", "0", "-5", "x", "99999999999999999999"] {
                assert!(matches!(
                    main_pid(bad, s, &check(true, true)),
                    Err(MainPidRefused::NotAPid { .. })
                ));
            }
        }
    }

    #[test]
    fn ancestry_walk_finds_a_real_parent_and_stops_at_the_bound() {
        let me = std::process::id() as i32;
        let mut child = Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .expect("spawn sh");
        let sh = child.id() as i32;
        // The grandchild appears once sh has forked it.
        let mut grandchild = None;
        for _ in 0..200 {
            let kids = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children"))
                .unwrap_or_default();
            if let Some(k) = kids.split_whitespace().next() {
                grandchild = k.parse::<i32>().ok();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let g = grandchild.expect("sleep started");
        assert_eq!(find_ancestor(g, 1, |p| p == me), Some(me));
        assert_eq!(find_ancestor(g, 1, |p| p == sh), Some(sh));
        // Stopping at our own pid: nothing above it can match through it.
        assert_eq!(find_ancestor(g, me, |p| p == me), None);
        // An unrelated process (our parent chain does not contain the grandchild).
        assert_eq!(find_ancestor(me, 1, |p| p == g), None);
        assert!(alive(g));
        // SAFETY: kill on a pid we started; the sleep would otherwise outlive the test.
        unsafe { libc::kill(g, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn unit_dir_from_cgroup_path() {
        assert_eq!(unit_dir_in("/b8g/a.service", "/b8g"), Some("a.service"));
        assert_eq!(unit_dir_in("/b8g/a.service/sub", "/b8g"), Some("a.service"));
        assert_eq!(
            unit_dir_in("/b8g/web.slice/web-front.slice/a.service/sub.slice", "/b8g"),
            Some("a.service")
        );
        assert_eq!(unit_dir_in("/b8g/system.slice", "/b8g"), None);
        assert_eq!(unit_dir_in("/b8g", "/b8g"), None);
        assert_eq!(unit_dir_in("/b8gx/a.service", "/b8g"), None);
        assert_eq!(unit_dir_in("/user.slice/x", "/b8g"), None);
    }
}
