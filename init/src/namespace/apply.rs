//! The child's side of the sandbox: applying a [`Plan`] between fork and exec, with
//! system calls only (the child runs on PID 1's memory until it execs).

use super::*;

/// linux/mount.h: `struct mount_attr` for mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const AT_RECURSIVE: libc::c_int = 0x8000;

impl Plan {
    /// In the child: a mount namespace of its own (mounts from the host still arrive,
    /// none leave), then every step. On failure, errno stays as the failing call left it,
    /// and the index of the failing step is returned (None: the namespace itself).
    ///
    /// # Safety
    /// Called in the forked child before exec; it makes system calls only.
    pub unsafe fn apply(&self) -> Result<(), (Option<usize>, i32)> {
        // SAFETY: system calls on NUL-terminated strings owned by the plan.
        unsafe {
            let errno = || *libc::__errno_location();
            if libc::unshare(libc::CLONE_NEWNS) < 0
                || libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                ) < 0
            {
                return Err((None, errno()));
            }
            for (i, s) in self.steps.iter().enumerate() {
                let p = s.path.as_ptr();
                let ok = match &s.op {
                    Op::BindSelf => {
                        libc::mount(
                            p,
                            p,
                            std::ptr::null(),
                            libc::MS_BIND | libc::MS_REC,
                            std::ptr::null(),
                        ) == 0
                    }
                    Op::Bind { source, recursive } => {
                        let rec = if *recursive { libc::MS_REC } else { 0 };
                        libc::mount(
                            source.as_ptr(),
                            p,
                            std::ptr::null(),
                            libc::MS_BIND | rec,
                            std::ptr::null(),
                        ) == 0
                    }
                    Op::ReadOnly(ro) => set_read_only(p, *ro),
                    Op::Tmpfs { data, flags } => {
                        libc::mount(
                            c"tmpfs".as_ptr(),
                            p,
                            c"tmpfs".as_ptr(),
                            *flags,
                            data.as_ptr().cast(),
                        ) == 0
                    }
                    Op::Mkdir => libc::mkdir(p, 0o755) == 0 || errno() == libc::EEXIST,
                    Op::Touch => {
                        let fd =
                            libc::open(p, libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o666);
                        fd >= 0 && libc::close(fd) == 0
                    }
                    Op::Symlink { target } => libc::symlink(target.as_ptr(), p) == 0,
                    Op::Clone { slot } => {
                        let fd = libc::syscall(
                            libc::SYS_open_tree,
                            libc::AT_FDCWD,
                            p,
                            OPEN_TREE_CLONE
                                | libc::O_CLOEXEC as libc::c_uint
                                | AT_RECURSIVE as libc::c_uint,
                        ) as libc::c_int;
                        if fd >= 0 {
                            self.slots[*slot].set(fd);
                        }
                        fd >= 0
                    }
                    Op::Attach { slot } => {
                        let fd = self.slots[*slot].get();
                        fd >= 0
                            && libc::syscall(
                                libc::SYS_move_mount,
                                fd,
                                c"".as_ptr(),
                                libc::AT_FDCWD,
                                p,
                                MOVE_MOUNT_F_EMPTY_PATH,
                            ) == 0
                    }
                    Op::OpenAs { fd } => {
                        let m = libc::open(p, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
                        m >= 0 && (m == *fd || libc::dup3(m, *fd, libc::O_CLOEXEC) >= 0)
                    }
                };
                // Only a path that is not there may be skipped; any other failure of
                // an optional step would leave the sandbox open.
                if !(ok || s.optional && errno() == libc::ENOENT) {
                    return Err((Some(i), errno()));
                }
            }
            for cap in &self.drop_caps {
                if libc::prctl(libc::PR_CAPBSET_READ, *cap as libc::c_ulong) == 1 {
                    libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong);
                }
            }
            Ok(())
        }
    }
}

/// mount_setattr(2) on the mount at `p` and all below it (Linux 5.12 or later).
unsafe fn set_read_only(p: *const libc::c_char, ro: bool) -> bool {
    // SAFETY: `p` is a NUL-terminated path; `attr` outlives the call.
    unsafe {
        let attr = MountAttr {
            attr_set: if ro { MOUNT_ATTR_RDONLY } else { 0 },
            attr_clr: if ro { 0 } else { MOUNT_ATTR_RDONLY },
            propagation: 0,
            userns_fd: 0,
        };
        let r = libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            p,
            (AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        );
        // No fallback: a remount on kernels before 5.12 would not reach submounts and
        // would leave them writable; the unit fails instead (naming this step).
        r == 0
    }
}
