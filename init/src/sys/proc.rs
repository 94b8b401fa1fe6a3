//! Processes: signals, /proc reading, exit statuses, uptime.

pub(crate) fn kill(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

pub(crate) fn proc_stat(pid: i32) -> Option<(i32, i32, i32, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // state ppid pgrp session
    Some((
        f.get(1)?.parse().ok()?,
        f.get(2)?.parse().ok()?,
        f.get(3)?.parse().ok()?,
        f.first()?.chars().next()?,
    ))
}

/// (pid, pgid, sid, state) of every process.
pub(crate) fn list_procs() -> Vec<(i32, i32, i32, char)> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                if let Some((_, pg, sid, st)) = proc_stat(pid) {
                    v.push((pid, pg, sid, st));
                }
            }
        }
    }
    v
}

pub(crate) fn describe_pid(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    format!("{pid} ({})", comm.trim())
}

pub(crate) fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended with wait status {status}")
    }
}

pub(crate) fn result_of(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit-code {}", libc::WEXITSTATUS(status))
    }
}

pub(crate) fn uptime_ms() -> u64 {
    // SAFETY: clock_gettime into a local timespec.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts);
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    }
}
