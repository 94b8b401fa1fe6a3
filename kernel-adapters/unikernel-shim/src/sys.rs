//! The system calls the shim makes: mounts, module loading, interface set-up,
//! the boot-time marker and powering off through qemu's `isa-debug-exit`.
//!
//! Everything here is plain libc: the shim is PID 1 in a VM with nothing else
//! in it, so there is no `ip`, `modprobe` or `poweroff` to call.

use b8g_layout::unikernel::config::Network;
use b8g_layout::unikernel::console::ExecMarker;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// A failed system call, with what it was doing.
#[derive(Debug)]
pub struct SysError {
    pub what: String,
    pub source: io::Error,
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for SysError {}

fn check(r: libc::c_int, what: impl FnOnce() -> String) -> Result<libc::c_int, SysError> {
    if r < 0 {
        Err(SysError {
            what: what(),
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(r)
    }
}

fn cstr(s: &str) -> Result<CString, SysError> {
    CString::new(s).map_err(|_| SysError {
        what: format!("{s:?}"),
        source: io::Error::new(io::ErrorKind::InvalidInput, "contains NUL"),
    })
}

/// Mounts `/proc`, `/sys` and `/dev` (devtmpfs); a target already mounted is left alone.
pub fn mount_api_filesystems() -> Result<(), SysError> {
    for (fstype, target, flags, data) in [
        (
            "proc",
            "/proc",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            "",
        ),
        (
            "sysfs",
            "/sys",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            "",
        ),
        ("devtmpfs", "/dev", libc::MS_NOSUID, "mode=0755"),
    ] {
        let t = cstr(target)?;
        let fs = cstr(fstype)?;
        let d = cstr(data)?;
        // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
        unsafe {
            libc::mkdir(t.as_ptr(), 0o755);
            let r = libc::mount(
                fs.as_ptr(),
                t.as_ptr(),
                fs.as_ptr(),
                flags,
                d.as_ptr().cast(),
            );
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) {
                return Err(SysError {
                    what: format!("mount {fstype} on {target}"),
                    source: io::Error::last_os_error(),
                });
            }
        }
    }
    Ok(())
}

/// Loads one kernel module with `finit_module`; one already loaded is fine.
pub fn load_module(path: &str) -> Result<(), SysError> {
    let p = cstr(path)?;
    // SAFETY: p is a valid C string; the fd is closed below.
    let fd = check(
        unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) },
        || format!("open {path}"),
    )?;
    let empty = cstr("")?;
    // SAFETY: finit_module(fd, params, flags) with a valid fd and an empty parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, empty.as_ptr(), 0) };
    let err = io::Error::last_os_error();
    // SAFETY: fd was opened above and is not used after this.
    unsafe { libc::close(fd) };
    if r < 0 && err.raw_os_error() != Some(libc::EEXIST) {
        return Err(SysError {
            what: format!("finit_module {path}"),
            source: err,
        });
    }
    Ok(())
}

fn sockaddr_in(a: [u8; 4]) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as sockaddr_in.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ifreq(name: &str) -> Result<libc::ifreq, SysError> {
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(SysError {
            what: format!("interface name {name:?}"),
            source: io::Error::new(io::ErrorKind::InvalidInput, "too long or contains NUL"),
        });
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(r)
}

/// The kernel's `struct rtentry` (linux/route.h), which glibc's libc bindings lack.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this guard.
        unsafe { libc::close(self.0) };
    }
}

fn set_up(sock: &Fd, name: &str) -> Result<(), SysError> {
    let mut r = ifreq(name)?;
    // SAFETY: r is a valid ifreq for SIOCGIFFLAGS/SIOCSIFFLAGS on a socket we own.
    unsafe {
        check(libc::ioctl(sock.0, libc::SIOCGIFFLAGS, &mut r), || {
            format!("get flags of {name}")
        })?;
        r.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        check(libc::ioctl(sock.0, libc::SIOCSIFFLAGS, &r), || {
            format!("bring {name} up")
        })?;
    }
    Ok(())
}

/// Brings up `lo` and, when configured, one interface with a static address and
/// default route (ioctls, as `ifconfig` and `route` do). Waits up to 5 s for the
/// interface to appear, since its driver may still be probing. A kernel built
/// without networking or IPv4 (a minimal kernel for an app without network:
/// socket() gives ENOSYS or EAFNOSUPPORT) is fine when no network is
/// configured: there is no `lo` to bring up.
pub fn configure_network(net: Option<&Network>) -> Result<(), SysError> {
    // SAFETY: plain socket(2) call; the result is owned by the guard.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0
        && net.is_none()
        && matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS | libc::EAFNOSUPPORT)
        )
    {
        return Ok(());
    }
    let sock = Fd(check(fd, || "socket(AF_INET)".into())?);
    set_up(&sock, "lo")?;
    let Some(net) = net else { return Ok(()) };
    let name = cstr(&net.interface)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: name is a valid C string.
    while unsafe { libc::if_nametoindex(name.as_ptr()) } == 0 {
        if Instant::now() > deadline {
            return Err(SysError {
                what: format!("interface {}", net.interface),
                source: io::Error::new(io::ErrorKind::NotFound, "did not appear within 5 s"),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mask = if net.prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(net.prefix))
    };
    let mut r = ifreq(&net.interface)?;
    r.ifr_ifru.ifru_addr = sockaddr_in(net.address);
    // SAFETY: r is a valid ifreq carrying an AF_INET address.
    unsafe {
        check(libc::ioctl(sock.0, libc::SIOCSIFADDR, &r), || {
            format!("set the address of {}", net.interface)
        })?;
    }
    r.ifr_ifru.ifru_netmask = sockaddr_in(mask.to_be_bytes());
    // SAFETY: as above, with the netmask.
    unsafe {
        check(libc::ioctl(sock.0, libc::SIOCSIFNETMASK, &r), || {
            format!("set the netmask of {}", net.interface)
        })?;
    }
    set_up(&sock, &net.interface)?;
    if let Some(gw) = net.gateway {
        let mut rt = RtEntry {
            rt_pad1: 0,
            rt_dst: sockaddr_in([0; 4]),
            rt_gateway: sockaddr_in(gw),
            rt_genmask: sockaddr_in([0; 4]),
            rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
            rt_pad2: 0,
            rt_pad3: 0,
            rt_pad4: std::ptr::null_mut(),
            rt_metric: 0,
            rt_dev: std::ptr::null_mut(),
            rt_mtu: 0,
            rt_window: 0,
            rt_irtt: 0,
        };
        // SAFETY: rt is a valid struct rtentry for SIOCADDRT.
        unsafe {
            check(libc::ioctl(sock.0, libc::SIOCADDRT, &mut rt), || {
                "add the default route".into()
            })?;
        }
    }
    Ok(())
}

/// The guest's `CLOCK_BOOTTIME` (time since the kernel started, suspend included).
pub fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs the app as a child (so its exit status can be reported) and reaps every
/// other process that ends meanwhile, as PID 1 must. Returns the app's exit code
/// (128 + signal when it was killed). The marker is printed by the child right
/// before `execve`, with the guest's boot time.
pub fn run_app(app: &str, args: &[String], env: &[String], cwd: &str) -> Result<i32, SysError> {
    let c_app = cstr(app)?;
    let c_cwd = cstr(cwd)?;
    let argv: Vec<CString> = std::iter::once(app)
        .chain(args.iter().map(String::as_str))
        .map(cstr)
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_, _>>()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: the shim is single-threaded; the child only calls async-signal-safe
    // functions (chdir, write, clock_gettime, execve, _exit) on memory prepared before fork.
    let pid = check(unsafe { libc::fork() }, || "fork".into())?;
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            libc::chdir(c_cwd.as_ptr());
            let marker = ExecMarker {
                app,
                boottime: boottime(),
            };
            let mut line = [0u8; 512];
            let n = marker.write_to(&mut line);
            libc::write(1, line.as_ptr().cast(), n);
            libc::execve(c_app.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
            let msg = b"b8g-unikernel: execve of the app failed\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
    }
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child; status is a valid int.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(SysError {
                what: "waitpid".into(),
                source: e,
            });
        }
        if r == pid {
            return Ok(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
    }
}

/// Powers the VM off, first through `isa-debug-exit` at port 0xf4 (qemu exits
/// with `(code << 1) | 1`), then, when that device is absent, by a plain power-off.
pub fn power_off(code: i32) -> ! {
    // SAFETY: sync and reboot take no pointers; port I/O is allowed by ioperm first
    // and port 0xf4 is qemu's isa-debug-exit (without it the write is ignored).
    unsafe {
        libc::sync();
        #[cfg(target_arch = "x86_64")]
        {
            use b8g_layout::unikernel::console::{debug_exit_code, DEBUG_EXIT_PORT};
            if libc::ioperm(DEBUG_EXIT_PORT.into(), 4, 1) == 0 {
                std::arch::asm!("out dx, eax", in("dx") DEBUG_EXIT_PORT, in("eax") debug_exit_code(code), options(nomem, nostack));
            }
        }
        libc::reboot(libc::RB_POWER_OFF);
    }
    // reboot() only returns on failure; PID 1 must not exit, so wait for the end.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtentry_has_the_kernel_layout() {
        // struct rtentry is 120 bytes on x86_64 (linux/route.h).
        #[cfg(target_arch = "x86_64")]
        assert_eq!(std::mem::size_of::<RtEntry>(), 120);
    }
}
