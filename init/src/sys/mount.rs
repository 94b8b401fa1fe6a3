//! mount(2) and umount(2) with fstab-style option strings.

use std::path::Path;

pub(crate) fn cstring(s: &str) -> Result<std::ffi::CString, std::io::Error> {
    std::ffi::CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// mount(2) with fstab-style options split into flags and data.
pub fn do_mount(
    what: &str,
    where_: &Path,
    fstype: Option<&str>,
    options: &str,
) -> Result<(), std::io::Error> {
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" | "defaults" | "auto" | "noauto" | "nofail" | "user" | "nouser" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            "noatime" => flags |= libc::MS_NOATIME,
            "relatime" => flags |= libc::MS_RELATIME,
            "sync" => flags |= libc::MS_SYNCHRONOUS,
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            "remount" => flags |= libc::MS_REMOUNT,
            o if o.starts_with("x-") => {}
            o => data.push(o),
        }
    }
    let what = cstring(what)?;
    let target = cstring(&where_.display().to_string())?;
    let ty = fstype.map(cstring).transpose()?;
    let data = cstring(&data.join(","))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
