//! mount(2) and umount(2) with fstab-style option strings.

use std::path::Path;

pub(crate) fn cstring(s: &str) -> Result<std::ffi::CString, std::io::Error> {
    std::ffi::CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// fstab options as mount(8) reads them: flags for mount(2), the rest as data for the
/// file system; options only mount(8) and fstab generators care about are dropped.
pub fn split_options(options: &str) -> (libc::c_ulong, String) {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "defaults" | "auto" | "noauto" | "nofail" | "user" | "nouser" | "users" | "owner"
            | "group" | "_netdev" | "async" | "exec" | "suid" | "dev" | "atime" | "diratime"
            | "loud" | "norelatime" | "nostrictatime" | "nolazytime" | "nomand" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "nodiratime" => flags |= libc::MS_NODIRATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "strictatime" => flags |= libc::MS_STRICTATIME,
            "lazytime" => flags |= libc::MS_LAZYTIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "dirsync" => flags |= libc::MS_DIRSYNC,
            "silent" => flags |= libc::MS_SILENT,
            "mand" => flags |= libc::MS_MANDLOCK,
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            "remount" => flags |= libc::MS_REMOUNT,
            o if o.starts_with("x-") || o.starts_with("comment=") => {}
            o => data.push(o),
        }
    }
    (flags, data.join(","))
}

/// The block file systems the kernel knows (`/proc/filesystems` without `nodev`), in
/// its order: what mount(8) tries for type `auto`.
fn block_filesystems() -> Vec<String> {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// mount(2) with fstab-style options split into flags and data. A type of `auto` (or
/// none, for a device) is found by trying the kernel's block file systems in turn.
pub fn do_mount(
    what: &str,
    where_: &Path,
    fstype: Option<&str>,
    options: &str,
) -> Result<(), std::io::Error> {
    let (flags, data) = split_options(options);
    let probe = fstype == Some("auto")
        || (fstype.is_none()
            && what.starts_with("/dev/")
            && flags & (libc::MS_BIND | libc::MS_REMOUNT) == 0);
    if probe {
        let mut last = std::io::Error::from_raw_os_error(libc::ENODEV);
        for t in block_filesystems() {
            match mount_raw(what, where_, Some(&t), flags, &data) {
                Ok(()) => return Ok(()),
                // Not this type: try the next, as mount(8) does.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENODEV)) => {
                    last = e
                }
                Err(e) => return Err(e),
            }
        }
        return Err(last);
    }
    mount_raw(what, where_, fstype, flags, &data)
}

fn mount_raw(
    what: &str,
    where_: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), std::io::Error> {
    let what = cstring(what)?;
    let target = cstring(&where_.display().to_string())?;
    let ty = fstype.map(cstring).transpose()?;
    let data = cstring(data)?;
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            what.as_ptr(),
            target.as_ptr(),
            ty.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
            flags,
            data.as_ptr().cast(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn umount(where_: &Path, flags: i32) -> Result<(), std::io::Error> {
    let t = cstring(&where_.display().to_string())?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(t.as_ptr(), flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

// swapon(2)'s flags (linux/swap.h; the libc crate does not carry them).
const SWAP_FLAG_PREFER: i32 = 0x8000;
const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
const SWAP_FLAG_DISCARD: i32 = 0x10000;
const SWAP_FLAG_DISCARD_ONCE: i32 = 0x20000;
const SWAP_FLAG_DISCARD_PAGES: i32 = 0x40000;

/// swapon(2)'s flags for a priority (-1: the kernel's choice) and swapon(8)'s
/// `-o` options (`pri=`, `discard`, `discard=once|pages`; others are not the kernel's).
pub fn swap_flags(priority: Option<i32>, options: &str) -> i32 {
    let mut prio = priority;
    let mut flags = 0;
    for o in options.split(',') {
        match o {
            "discard" => flags |= SWAP_FLAG_DISCARD,
            "discard=once" => flags |= SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE,
            "discard=pages" => flags |= SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES,
            _ => {
                if let Some(p) = o.strip_prefix("pri=").and_then(|p| p.parse::<i32>().ok()) {
                    prio = prio.or(Some(p));
                }
            }
        }
    }
    if let Some(p) = prio.filter(|p| *p >= 0) {
        flags |= SWAP_FLAG_PREFER | (p & SWAP_FLAG_PRIO_MASK);
    }
    flags
}

pub fn swapon(what: &str, flags: i32) -> Result<(), std::io::Error> {
    let w = cstring(what)?;
    // SAFETY: valid C string.
    if unsafe { libc::swapon(w.as_ptr(), flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn swapoff(what: &str) -> Result<(), std::io::Error> {
    let w = cstring(what)?;
    // SAFETY: valid C string.
    if unsafe { libc::swapoff(w.as_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `what` is in use as swap now (/proc/swaps, whose names are octal-escaped).
pub fn swap_active(what: &str) -> bool {
    let Ok(real) = std::fs::canonicalize(what) else {
        return false;
    };
    std::fs::read_to_string("/proc/swaps")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|n| crate::generators::unoctal(n) == real.to_string_lossy())
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_flags_follow_swapon() {
        assert_eq!(swap_flags(None, "sw"), 0);
        assert_eq!(swap_flags(Some(-1), "defaults"), 0);
        assert_eq!(swap_flags(Some(5), ""), 0x8000 | 5);
        // Priority= wins over pri= (systemd.swap(5)).
        assert_eq!(swap_flags(Some(5), "pri=7"), 0x8000 | 5);
        assert_eq!(swap_flags(None, "sw,pri=7,discard"), 0x8000 | 7 | 0x10000);
        assert_eq!(swap_flags(None, "discard=once"), 0x30000);
        assert_eq!(swap_flags(None, "discard=pages,nofail"), 0x50000);
    }

    #[test]
    fn mount_options_are_split() {
        // A bogus file system type must fail cleanly, not panic.
        assert!(do_mount(
            "none",
            Path::new("/nonexistent-b8g"),
            Some("nosuchfs"),
            "ro,nosuid,size=1m"
        )
        .is_err());
    }
}
