//! What only a real boot does: mount the API file systems, set the hostname, bring up
//! the loopback interface, run the generation's `activate`, and the emergency shell
//! that PID 1 falls back to instead of exiting.

use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::sys::mount::do_mount;

fn mounted(target: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(target))
        })
        .unwrap_or(false)
}

/// Mounts /proc, /sys, /dev, /dev/pts, /run and /tmp where they are not mounted yet.
/// Returns messages for the log (failures do not stop the boot).
pub fn mount_api_filesystems() -> Vec<String> {
    let mut msgs = Vec::new();
    let list: &[(&str, &str, &str, &str)] = &[
        ("proc", "/proc", "proc", "nosuid,nodev,noexec"),
        ("sysfs", "/sys", "sysfs", "nosuid,nodev,noexec"),
        ("devtmpfs", "/dev", "devtmpfs", "nosuid,mode=0755"),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            "nosuid,noexec,mode=0620,ptmxmode=0666",
        ),
        ("tmpfs", "/dev/shm", "tmpfs", "nosuid,nodev,mode=1777"),
        ("tmpfs", "/run", "tmpfs", "nosuid,nodev,mode=0755"),
        ("tmpfs", "/tmp", "tmpfs", "nosuid,nodev,mode=1777"),
    ];
    for (what, target, ty, opts) in list {
        // /proc must be there before we can ask what is mounted.
        if *target != "/proc" && mounted(target) {
            continue;
        }
        if *target == "/proc" && Path::new("/proc/self").exists() {
            continue;
        }
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = do_mount(what, Path::new(target), Some(ty), opts) {
            msgs.push(format!("mount {target}: {e}"));
        }
    }
    msgs
}

/// Raises PID 1's hard `RLIMIT_NOFILE` to the kernel's `fs.nr_open`, as systemd does
/// at boot, so `LimitNOFILE=infinity` (clamped to nr_open) reaches it; services
/// inherit the soft limit unchanged. Fails quietly without CAP_SYS_RESOURCE (a
/// container), where services get the closest the inherited hard limit allows.
pub fn raise_nofile_hard_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            let max = crate::exec::nr_open();
            if r.rlim_max < max {
                r.rlim_max = max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            }
        }
    }
}

pub fn set_hostname(etc: &Path) -> Option<String> {
    let name = std::fs::read_to_string(etc.join("hostname"))
        .ok()?
        .trim()
        .to_string();
    if name.is_empty() {
        return None;
    }
    // SAFETY: pointer and length of a live string.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    (r == 0).then_some(name)
}

/// Brings `lo` up (a fresh network namespace or kernel starts with it down).
pub fn loopback_up() -> Result<(), std::io::Error> {
    // SAFETY: ioctl on a fresh datagram socket with a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr);
        if r == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr);
        }
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if r < 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// Runs `<system>/activate` (if present) and waits for it, at most two minutes.
pub fn run_activate(system: &Path) -> Option<String> {
    let script = system.join("activate");
    if !script.is_file() {
        return None;
    }
    let mut child = match std::process::Command::new(&script)
        .env("B8G_SYSTEM", system)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot run {}: {e}", script.display())),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Some(format!("{} finished", script.display())),
            Ok(Some(st)) => return Some(format!("{} failed: {st}", script.display())),
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                return Some(format!("{} timed out", script.display()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Some(format!("waiting for activate: {e}")),
        }
    }
}

/// The last resort: a shell on the console, restarted whenever it exits. Never returns.
pub fn emergency_shell(cfg: &Config) -> ! {
    loop {
        eprintln!(
            "b8g-init: starting emergency shell {}",
            cfg.emergency_shell.display()
        );
        let console = cfg.console.clone().unwrap_or_else(|| "/dev/console".into());
        let mut cmd = std::process::Command::new(&cfg.emergency_shell);
        if let (Ok(i), Ok(o), Ok(e)) = (
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&console),
            std::fs::OpenOptions::new().write(true).open(&console),
            std::fs::OpenOptions::new().write(true).open(&console),
        ) {
            cmd.stdin(i).stdout(o).stderr(e);
        }
        // SAFETY: only async-signal-safe calls in pre_exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::setsid();
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut c) => {
                // Reap everything while the shell runs; PID 1 inherits all orphans.
                loop {
                    let mut st = 0;
                    // SAFETY: waitpid with a valid status pointer.
                    let p = unsafe { libc::waitpid(-1, &mut st, 0) };
                    if p == c.id() as i32 || p < 0 {
                        break;
                    }
                }
                let _ = c.try_wait();
            }
            Err(e) => {
                eprintln!("b8g-init: cannot start emergency shell: {e}");
                std::thread::sleep(Duration::from_secs(5));
            }
        }
    }
}
