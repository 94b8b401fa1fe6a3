//! The build sandbox: runs one builder in fresh Linux namespaces.
//!
//! A build runs as PID 1 of new user, mount, PID, UTS, IPC and (unless it is a
//! fixed-output build) network namespaces, created by a single `clone`. The
//! user namespace is what lets this work without root: the caller's uid and gid
//! appear inside as the fixed builder ids 1000 and 100, and the builder keeps
//! no capabilities after `execve`.
//!
//! Its root is a fresh tmpfs holding only:
//! - the input closure, each path bind-mounted read-only at its *logical* path
//!   (`/b8g/store/…`), whatever directory it physically lives in;
//! - the store directory itself, writable, backed by `<scratch>/store` on the
//!   host, where the builder creates its outputs (the caller moves them into
//!   the real store, or copies them when the build shared the host's network
//!   and may have handed out descriptors of them);
//! - `/build` (`NIX_BUILD_TOP`, the working directory, backed by `<scratch>/build`
//!   or, with [`SandboxConfig::build_dir_on_tmpfs`], by memory),
//!   a private tmpfs `/tmp`, a minimal `/dev`, `/proc`, and `/etc` with
//!   `passwd`, `group` and `hosts`.
//!
//! The root is remounted read-only once populated, the host name is
//! `localhost`, and the environment is fixed (see [`BuildSpec::env`]). The
//! builder leads a session of its own with no controlling terminal, and `/dev`
//! has no `tty`: nothing reaches the terminal b8g was started from.
//! Killing the builder kills the whole PID namespace, which is how timeouts,
//! silence limits and cancellation clean up every process of a build.
//!
//! Set-up cost is kept small by design: one `clone`, about twenty mount-related
//! syscalls, no helper binaries and no copying of inputs. The work done in the
//! child is a precomputed list of steps (see `setup`), so the child never
//! allocates.
//!
//! This module knows nothing about derivations or the store database: it takes
//! plain paths and strings ([`BuildSpec`]) and leaves outputs in the scratch
//! directory for the caller to check, register and move.

mod cancel;
mod log;
mod setup;

pub use cancel::CancelToken;
pub use log::{FileLog, LogSink, MemoryLog, NullLog};

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use setup::{Exec, IfreqFlags, Step};

/// The uid the builder runs as inside the sandbox (Nix uses the same).
pub const BUILDER_UID: u32 = 1000;
/// The gid the builder runs as inside the sandbox (Nix uses the same).
pub const BUILDER_GID: u32 = 100;
/// The host uid builds run as when b8g runs as root (seen as [`BUILDER_UID`]
/// inside). Like Nix's `auto-allocate-uids` range, it is far above the ids of
/// real accounts; builds are kept apart from each other by their namespaces.
pub const HOST_BUILD_UID: u32 = 872_415_232;
/// The host gid of builds when b8g runs as root (seen as [`BUILDER_GID`]).
pub const HOST_BUILD_GID: u32 = 872_415_232;
/// The build directory inside the sandbox (`NIX_BUILD_TOP`).
pub const BUILD_TOP: &str = "/build";

/// Settings shared by all builds of one realisation.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The logical store directory inside the sandbox, e.g. `/b8g/store`.
    pub store_dir: PathBuf,
    /// Extra host paths made visible read-only (Nix's `sandbox-paths`), e.g. `/bin/sh`.
    pub extra_paths: Vec<BindMount>,
    /// Kill the build after this long.
    pub timeout: Option<Duration>,
    /// Kill the build after this long without output.
    pub max_silent: Option<Duration>,
    /// `NIX_BUILD_CORES`.
    pub cores: u32,
    /// `SOURCE_DATE_EPOCH`, for reproducible timestamps.
    pub source_date_epoch: u64,
    /// Keep `/build` in memory instead of `<scratch>/build`: faster for many
    /// small builds, but large builds then use RAM and a failed build's
    /// directory cannot be inspected afterwards.
    pub build_dir_on_tmpfs: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            store_dir: PathBuf::from("/b8g/store"),
            extra_paths: Vec::new(),
            timeout: None,
            max_silent: None,
            cores: 1,
            // 1980-01-01, as nixpkgs uses: the earliest time ZIP can store.
            source_date_epoch: 315_532_800,
            build_dir_on_tmpfs: false,
        }
    }
}

/// A host path made visible read-only at `target` inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BindMount {
    /// Where it is on the host (the physical path).
    pub source: PathBuf,
    /// Where the builder sees it (the logical path): absolute, normalised.
    pub target: PathBuf,
}

impl BindMount {
    /// A host path shown at a (possibly different) sandbox path.
    pub fn new(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        BindMount {
            source: source.into(),
            target: target.into(),
        }
    }
}

/// One build, described in plain terms (no derivation types).
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// A name for messages, e.g. the derivation path.
    pub name: String,
    /// The program to execute, as seen inside the sandbox.
    pub builder: PathBuf,
    /// Its arguments (not including `argv[0]`, which is the builder's base name).
    pub args: Vec<String>,
    /// The derivation's environment. It is layered over `PATH=/path-not-set`,
    /// `HOME=/homeless-shelter`, `NIX_STORE`, `NIX_BUILD_CORES`, `TZ=UTC`,
    /// `SOURCE_DATE_EPOCH` and one variable per output, and is itself overridden
    /// by `NIX_BUILD_TOP`, `TMPDIR`, `TEMPDIR`, `TMP`, `TEMP`, `PWD` (all `/build`),
    /// `NIX_LOG_FD=2` and `TERM`, as in Nix.
    pub env: BTreeMap<String, String>,
    /// The input closure: physical store paths and their logical paths.
    pub inputs: Vec<BindMount>,
    /// Output name to logical output path, which must lie directly in the store directory.
    pub outputs: BTreeMap<String, PathBuf>,
    /// Share the host network (fixed-output builds only; their result is checked by hash).
    pub network: bool,
}

/// A successful build: where its outputs are on the host, not yet registered.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// Output name to physical path inside `<scratch>/store`.
    pub outputs: BTreeMap<String, PathBuf>,
    /// Wall time from `clone` to the builder's exit.
    pub elapsed: Duration,
}

/// How a builder process ended when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this non-zero code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit code {c}"),
            ExitKind::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Why a sandboxed build failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The build description cannot be run.
    #[error("invalid build {name}: {reason}")]
    InvalidSpec {
        /// The build's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A host-side preparation step failed.
    #[error("{what} {}: {source}", path.display())]
    Prepare {
        /// The action, e.g. "create scratch directory".
        what: &'static str,
        /// The path it acted on.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Creating the sandbox process or its pipes failed.
    #[error("cannot start sandbox ({what}): {source}")]
    Spawn {
        /// The failing call, e.g. "clone".
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A set-up step inside the new namespaces failed.
    #[error("sandbox set-up failed: {step}: {source}")]
    Setup {
        /// The step, e.g. "mount proc onto /tmp/x/root/proc".
        step: String,
        /// The OS error.
        source: io::Error,
    },
    /// The builder could not be executed.
    #[error("cannot execute builder {}: {source}", builder.display())]
    Exec {
        /// The builder path inside the sandbox.
        builder: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Writing the log failed.
    #[error("cannot write build log: {0}")]
    Log(#[source] io::Error),
    /// Waiting for the builder failed.
    #[error("waiting for the builder failed: {0}")]
    Wait(#[source] io::Error),
    /// The builder failed.
    #[error("builder for '{name}' failed with {status}")]
    BuilderFailed {
        /// The build's name.
        name: String,
        /// How it ended.
        status: ExitKind,
    },
    /// The build ran longer than the timeout and was killed.
    #[error("build of {name} timed out after {} s", limit.as_secs_f64())]
    TimedOut {
        /// The build's name.
        name: String,
        /// The configured limit.
        limit: Duration,
    },
    /// The build printed nothing for too long and was killed.
    #[error("build of {name} timed out after {} s of silence", limit.as_secs_f64())]
    Silent {
        /// The build's name.
        name: String,
        /// The configured limit.
        limit: Duration,
    },
    /// The build was cancelled and killed.
    #[error("build of {name} was cancelled")]
    Cancelled {
        /// The build's name.
        name: String,
    },
    /// The builder succeeded but did not create an output.
    #[error("builder for {name} failed to produce output {output} ({})", path.display())]
    MissingOutput {
        /// The build's name.
        name: String,
        /// The output name.
        output: String,
        /// Its logical path.
        path: PathBuf,
    },
}

/// Runs builds in sandboxes configured by a [`SandboxConfig`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
}

impl Sandbox {
    /// Checks the configuration.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        check_logical(&config.store_dir).map_err(|reason| SandboxError::InvalidSpec {
            name: "sandbox configuration".into(),
            reason: format!("store directory {}: {reason}", config.store_dir.display()),
        })?;
        Ok(Sandbox { config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Runs one build. `scratch` is a host directory that must not exist yet
    /// (its parent must); it receives `store/` (the outputs) and `build/`.
    /// Its parent also gets `.sandbox-root`, an empty directory shared by all
    /// builds as their root's mount point. The caller removes it afterwards ([`remove_tree`]),
    /// having moved the outputs out of it on success.
    pub fn run(
        &self,
        spec: &BuildSpec,
        scratch: &Path,
        log: &mut dyn LogSink,
        cancel: &CancelToken,
    ) -> Result<BuildResult, SandboxError> {
        let mut dirs = vec![scratch.to_owned(), scratch.join("store")];
        if !self.config.build_dir_on_tmpfs {
            dirs.push(scratch.join("build"));
        }
        // The builder (our own uid, seen as 1000 inside) owns these; other
        // host users stay out of a build in progress (mode 0700, set at
        // creation rather than by a separate chmod).
        let mut builder = fs::DirBuilder::new();
        builder.mode(0o700);
        let as_root = unsafe_geteuid() == 0;
        for dir in &dirs {
            builder
                .create(dir)
                .map_err(prep_err("create scratch directory", dir))?;
            if as_root {
                std::os::unix::fs::chown(dir, Some(HOST_BUILD_UID), Some(HOST_BUILD_GID)).map_err(
                    prep_err("give the scratch directory to the build user", dir),
                )?;
            }
        }
        // Every build mounts its root tmpfs on the same directory, each in its own
        // mount namespace, so the (slow, on-disk) directory is made only once.
        let root = root_mountpoint(scratch)?;

        let (err_r, err_w) = pipe()?;
        let (log_r, log_w) = pipe()?;
        // Root writes the child's id maps from outside, then releases it.
        let go = if as_root { Some(pipe()?) } else { None };
        let go_fd = go.as_ref().map(|(r, w)| (r.as_raw_fd(), w.as_raw_fd()));
        let (steps, exec) = self.program(spec, scratch, &root, log_w.as_raw_fd(), go_fd)?;

        let mut flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC;
        if !spec.network {
            flags |= libc::CLONE_NEWNET;
        }
        let start = Instant::now();
        // SAFETY: a raw clone without a new stack behaves like fork: the child
        // gets a copy of this thread's stack. It then only runs `child_main`,
        // which makes raw syscalls on data prepared above and never returns.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid == 0 {
            // SAFETY: we are the freshly cloned child.
            unsafe { setup::child_main(&steps, &exec, err_w.as_raw_fd()) }
        }
        if pid < 0 {
            return Err(SandboxError::Spawn {
                what: "clone",
                source: io::Error::last_os_error(),
            });
        }
        let mut child = Child {
            pid: pid as libc::pid_t,
            reaped: false,
        };
        drop(err_w);
        drop(log_w);
        if let Some((go_r, go_w)) = go {
            drop(go_r);
            if let Err(e) = write_id_maps(child.pid) {
                child.kill_and_reap();
                return Err(e);
            }
            // SAFETY: writes one byte from a stack variable to our own pipe.
            let n = unsafe { libc::write(go_w.as_raw_fd(), b"g".as_ptr().cast(), 1) };
            if n != 1 {
                let source = io::Error::last_os_error();
                child.kill_and_reap();
                return Err(SandboxError::Spawn {
                    what: "release the sandbox child",
                    source,
                });
            }
        }

        if let Some((index, errno)) = read_setup_error(&err_r)? {
            let source = io::Error::from_raw_os_error(errno);
            child.kill_and_reap();
            return Err(match index {
                setup::EXEC_EXECVE => SandboxError::Exec {
                    builder: spec.builder.clone(),
                    source,
                },
                setup::EXEC_STDIO => SandboxError::Setup {
                    step: "redirect standard input and output".into(),
                    source,
                },
                setup::EXEC_PRIVS => SandboxError::Setup {
                    step: "reset signals and privileges".into(),
                    source,
                },
                setup::EXEC_CHDIR => SandboxError::Setup {
                    step: format!("chdir {BUILD_TOP}"),
                    source,
                },
                i => SandboxError::Setup {
                    step: steps
                        .get(i as usize)
                        .map_or_else(|| format!("step {i}"), setup::describe),
                    source,
                },
            });
        }
        drop(steps);
        drop(exec);

        let pidfd = pidfd_open(child.pid)?;
        let ended = self.supervise(spec, &log_r, &pidfd, &mut child, start, log, cancel)?;
        let elapsed = start.elapsed();
        match ended {
            Ended::Exited(0) => {}
            Ended::Exited(code) => {
                return Err(SandboxError::BuilderFailed {
                    name: spec.name.clone(),
                    status: ExitKind::Code(code),
                })
            }
            Ended::Signalled(sig) => {
                return Err(SandboxError::BuilderFailed {
                    name: spec.name.clone(),
                    status: ExitKind::Signal(sig),
                })
            }
        }

        let mut outputs = BTreeMap::new();
        for (output, logical) in &spec.outputs {
            let base = logical.file_name().unwrap_or_default();
            let physical = scratch.join("store").join(base);
            if fs::symlink_metadata(&physical).is_err() {
                return Err(SandboxError::MissingOutput {
                    name: spec.name.clone(),
                    output: output.clone(),
                    path: logical.clone(),
                });
            }
            outputs.insert(output.clone(), physical);
        }
        Ok(BuildResult { outputs, elapsed })
    }

    /// Streams the log until the builder exits, enforcing limits and cancellation.
    #[allow(clippy::too_many_arguments)] // One private call site; a struct would only rename them.
    fn supervise(
        &self,
        spec: &BuildSpec,
        log_r: &OwnedFd,
        pidfd: &OwnedFd,
        child: &mut Child,
        start: Instant,
        log: &mut dyn LogSink,
        cancel: &CancelToken,
    ) -> Result<Ended, SandboxError> {
        let mut splitter = log::LineSplitter::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_output = start;
        let mut log_open = true;
        let mut exited = false;
        loop {
            let now = Instant::now();
            let kill_with = |child: &mut Child, err: SandboxError| {
                child.kill_and_reap();
                Err(err)
            };
            if cancel.is_cancelled() {
                return kill_with(
                    child,
                    SandboxError::Cancelled {
                        name: spec.name.clone(),
                    },
                );
            }
            let mut wait: Option<Duration> = None;
            if let Some(limit) = self.config.timeout {
                let left = limit.saturating_sub(now - start);
                if left.is_zero() {
                    return kill_with(
                        child,
                        SandboxError::TimedOut {
                            name: spec.name.clone(),
                            limit,
                        },
                    );
                }
                wait = Some(left);
            }
            if let Some(limit) = self.config.max_silent {
                let left = limit.saturating_sub(now - last_output);
                if left.is_zero() {
                    return kill_with(
                        child,
                        SandboxError::Silent {
                            name: spec.name.clone(),
                            limit,
                        },
                    );
                }
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
            if exited && !log_open {
                break;
            }

            let mut fds = [
                pollfd(if log_open { log_r.as_raw_fd() } else { -1 }),
                pollfd(if exited { -1 } else { pidfd.as_raw_fd() }),
                pollfd(cancel.poll_fd()),
            ];
            // Round up so that we never wake just before a deadline and spin.
            let timeout_ms = wait.map_or(-1, |w| {
                libc::c_int::try_from(w.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            });
            // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                child.kill_and_reap();
                return Err(SandboxError::Wait(e));
            }
            if log_open && fds[0].revents != 0 {
                // SAFETY: reads into a buffer we own, of the length given.
                let got =
                    unsafe { libc::read(log_r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if got < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        child.kill_and_reap();
                        return Err(SandboxError::Wait(e));
                    }
                } else if got == 0 {
                    log_open = false;
                    splitter.finish(log);
                } else {
                    let data = &buf[..got as usize];
                    last_output = Instant::now();
                    if let Err(e) = log.raw(data) {
                        child.kill_and_reap();
                        return Err(SandboxError::Log(e));
                    }
                    splitter.feed(data, log);
                }
            }
            if !exited && fds[1].revents != 0 {
                // The namespace's PID 1 exited: every other process in it is being
                // killed, so the log pipe reaches EOF promptly.
                exited = true;
            }
        }
        child.reap().map_err(SandboxError::Wait)
    }

    /// Builds the set-up steps and the exec description for one build.
    fn program(
        &self,
        spec: &BuildSpec,
        scratch: &Path,
        root: &Path,
        log_fd: RawFd,
        wait_parent: Option<(RawFd, RawFd)>,
    ) -> Result<(Vec<Step>, Exec), SandboxError> {
        let invalid = |reason: String| SandboxError::InvalidSpec {
            name: spec.name.clone(),
            reason,
        };
        let cstr = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| invalid(format!("path {} contains a NUL byte", p.display())))
        };
        let store_dir = &self.config.store_dir;
        let root = root.to_owned();
        // Host path under the new root for a logical path.
        let under_root = |logical: &Path| root.join(logical.strip_prefix("/").unwrap_or(logical));

        let uid = unsafe_getuid();
        let gid = unsafe_getgid();
        let mut steps = match wait_parent {
            // Root: the parent writes the maps; we switch to the builder ids last.
            Some((fd, close)) => vec![Step::WaitParent { fd, close }],
            None => vec![
                // Needed before an unprivileged process may write gid_map.
                Step::WriteFile {
                    path: c"/proc/self/setgroups".into(),
                    data: b"deny".to_vec(),
                    create: false,
                },
                Step::WriteFile {
                    path: c"/proc/self/uid_map".into(),
                    data: format!("{BUILDER_UID} {uid} 1").into_bytes(),
                    create: false,
                },
                Step::WriteFile {
                    path: c"/proc/self/gid_map".into(),
                    data: format!("{BUILDER_GID} {gid} 1").into_bytes(),
                    create: false,
                },
            ],
        };
        steps.extend([
            // Nothing we mount may propagate back to the host.
            Step::Mount {
                source: None,
                target: c"/".into(),
                fstype: None,
                flags: libc::MS_REC | libc::MS_PRIVATE,
                data: None,
            },
            Step::Mount {
                source: Some(c"tmpfs".into()),
                target: cstr(&root)?,
                fstype: Some(c"tmpfs".into()),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
                data: Some(c"mode=0755".into()),
            },
        ]);
        let mut made = MadeDirs {
            root: root.clone(),
            made: BTreeSet::new(),
        };
        let mut mkdir_p =
            |steps: &mut Vec<Step>, logical: &Path| made.mkdir_p(steps, logical, &cstr);
        let tmpfs = |target: &Path, flags: libc::c_ulong, data: &std::ffi::CStr| {
            Ok::<_, SandboxError>(Step::Mount {
                source: Some(c"tmpfs".into()),
                target: cstr(target)?,
                fstype: Some(c"tmpfs".into()),
                flags,
                data: Some(data.into()),
            })
        };

        // /build: backed by the host so that big builds do not fill memory and a
        // failed build can be inspected, or a tmpfs when that is configured.
        mkdir_p(&mut steps, Path::new(BUILD_TOP))?;
        if self.config.build_dir_on_tmpfs {
            steps.push(tmpfs(
                &under_root(Path::new(BUILD_TOP)),
                libc::MS_NOSUID | libc::MS_NODEV,
                // Mounted by the namespace's root when we are root: hand it to the builder.
                if wait_parent.is_some() {
                    c"mode=0700,uid=1000,gid=100"
                } else {
                    c"mode=0700"
                },
            )?);
        } else {
            steps.push(Step::Mount {
                source: Some(cstr(&scratch.join("build"))?),
                target: cstr(&under_root(Path::new(BUILD_TOP)))?,
                fstype: None,
                flags: libc::MS_BIND,
                data: None,
            });
        }
        mkdir_p(&mut steps, Path::new("/tmp"))?;
        steps.push(tmpfs(
            &root.join("tmp"),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=1777",
        )?);

        // A minimal /dev: device nodes cannot be created in a user namespace,
        // so the host's harmless ones are bind-mounted. Not `tty`: it is the
        // caller's terminal, a way to type into the user's shell (TIOCSTI);
        // the builder runs in a session of its own without one anyway.
        mkdir_p(&mut steps, Path::new("/dev"))?;
        let dev = root.join("dev");
        for name in ["null", "zero", "full", "random", "urandom"] {
            // Some containers lack a few of these; a build is better off
            // without them than not at all.
            if fs::symlink_metadata(Path::new("/dev").join(name)).is_err() {
                continue;
            }
            let target = cstr(&dev.join(name))?;
            steps.push(Step::Touch {
                path: target.clone(),
            });
            steps.push(Step::Mount {
                source: Some(cstr(&Path::new("/dev").join(name))?),
                target,
                fstype: None,
                flags: libc::MS_BIND,
                data: None,
            });
        }
        mkdir_p(&mut steps, Path::new("/dev/shm"))?;
        steps.push(tmpfs(
            &dev.join("shm"),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=1777",
        )?);
        mkdir_p(&mut steps, Path::new("/dev/pts"))?;
        steps.push(Step::Mount {
            source: Some(c"devpts".into()),
            target: cstr(&dev.join("pts"))?,
            fstype: Some(c"devpts".into()),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(c"newinstance,mode=0620,ptmxmode=0666".into()),
        });
        for (link, to) in [
            ("ptmx", "pts/ptmx"),
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            steps.push(Step::Symlink {
                target: cstr(Path::new(to))?,
                path: cstr(&dev.join(link))?,
            });
        }

        mkdir_p(&mut steps, Path::new("/proc"))?;
        steps.push(Step::Mount {
            source: Some(c"proc".into()),
            target: cstr(&root.join("proc"))?,
            fstype: Some(c"proc".into()),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
        });

        mkdir_p(&mut steps, Path::new("/etc"))?;
        let mut etc: Vec<(&str, Vec<u8>)> = vec![
            (
                "passwd",
                format!(
                    "root:x:0:0:Nix build user:{BUILD_TOP}:/noshell\n\
                     nixbld:x:{BUILDER_UID}:{BUILDER_GID}:Nix build user:{BUILD_TOP}:/noshell\n\
                     nobody:x:65534:65534:Nobody:/:/noshell\n"
                )
                .into_bytes(),
            ),
            (
                "group",
                format!("root:x:0:\nnixbld:!:{BUILDER_GID}:\nnogroup:x:65534:\n").into_bytes(),
            ),
            ("hosts", b"127.0.0.1 localhost\n::1 localhost\n".to_vec()),
        ];
        if spec.network {
            // Fixed-output builds may download, so they need name resolution,
            // and the host's certificate authorities, as Nix gives them its
            // `ssl-cert-file` there (their result is checked by hash, so whom
            // the download trusted does not matter to what is kept).
            for name in ["resolv.conf", "services", "ssl/certs/ca-certificates.crt"] {
                if let Ok(data) = fs::read(Path::new("/etc").join(name)) {
                    if name.contains('/') {
                        mkdir_p(&mut steps, &Path::new("/etc").join("ssl/certs"))?;
                    }
                    etc.push((name, data));
                }
            }
        }
        for (name, data) in etc {
            steps.push(Step::WriteFile {
                path: cstr(&root.join("etc").join(name))?,
                data,
                create: true,
            });
        }

        // The store directory: writable, backed by <scratch>/store.
        mkdir_p(&mut steps, store_dir)?;
        steps.push(Step::Mount {
            source: Some(cstr(&scratch.join("store"))?),
            target: cstr(&under_root(store_dir))?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        });

        let mut binds: Vec<&BindMount> = spec
            .inputs
            .iter()
            .chain(self.config.extra_paths.iter())
            .collect();
        binds.sort_by(|a, b| a.target.cmp(&b.target));
        binds.dedup();
        for pair in binds.windows(2) {
            if pair[0].target == pair[1].target {
                return Err(invalid(format!(
                    "{} is mounted from both {} and {}",
                    pair[0].target.display(),
                    pair[0].source.display(),
                    pair[1].source.display()
                )));
            }
        }
        for bind in binds {
            check_logical(&bind.target)
                .map_err(|r| invalid(format!("mount target {}: {r}", bind.target.display())))?;
            if bind.target == *store_dir
                || [BUILD_TOP, "/tmp", "/dev", "/proc", "/etc"]
                    .iter()
                    .any(|p| bind.target == Path::new(p))
            {
                return Err(invalid(format!(
                    "{} is reserved by the sandbox",
                    bind.target.display()
                )));
            }
            let meta =
                fs::symlink_metadata(&bind.source).map_err(prep_err("stat input", &bind.source))?;
            if let Some(parent) = bind.target.parent() {
                mkdir_p(&mut steps, parent)?;
            }
            let target = cstr(&under_root(&bind.target))?;
            if meta.file_type().is_symlink() {
                // A bind mount would follow the link; recreate the link instead.
                let to =
                    fs::read_link(&bind.source).map_err(prep_err("read link", &bind.source))?;
                steps.push(Step::Symlink {
                    target: cstr(&to)?,
                    path: target,
                });
                continue;
            }
            if meta.is_dir() {
                mkdir_p(&mut steps, &bind.target)?;
            } else {
                steps.push(Step::Touch {
                    path: target.clone(),
                });
            }
            steps.push(Step::Mount {
                source: Some(cstr(&bind.source)?),
                target: target.clone(),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            });
            steps.push(Step::ReadOnly { target });
        }

        // Populated: nothing but /build, /tmp, /dev/shm and the store stays writable.
        steps.push(Step::Mount {
            source: None,
            target: cstr(&root)?,
            fstype: None,
            flags: libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV,
            data: None,
        });
        steps.push(Step::PivotRoot {
            new_root: cstr(&root)?,
        });
        steps.push(Step::Names {
            host: b"localhost".to_vec(),
            domain: b"(none)".to_vec(),
        });
        if !spec.network {
            steps.push(Step::LoopbackUp {
                req: IfreqFlags::loopback_up(),
            });
        }
        if wait_parent.is_some() {
            // Leaving uid 0 clears every capability; execve keeps none either.
            steps.push(Step::SetIds {
                uid: BUILDER_UID,
                gid: BUILDER_GID,
            });
        }

        // Environment, layered as documented on `BuildSpec::env`.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let set = |env: &mut BTreeMap<String, String>, k: &str, v: String| {
            env.insert(k.to_owned(), v);
        };
        set(&mut env, "PATH", "/path-not-set".into());
        set(&mut env, "HOME", "/homeless-shelter".into());
        set(
            &mut env,
            "NIX_STORE",
            store_dir.to_string_lossy().into_owned(),
        );
        set(&mut env, "NIX_BUILD_CORES", self.config.cores.to_string());
        set(&mut env, "TZ", "UTC".into());
        set(
            &mut env,
            "SOURCE_DATE_EPOCH",
            self.config.source_date_epoch.to_string(),
        );
        for (name, path) in &spec.outputs {
            if path.parent() != Some(store_dir.as_path()) || path.file_name().is_none() {
                return Err(invalid(format!(
                    "output {name} ({}) is not directly in {}",
                    path.display(),
                    store_dir.display()
                )));
            }
            set(&mut env, name, path.to_string_lossy().into_owned());
        }
        for (k, v) in &spec.env {
            env.insert(k.clone(), v.clone());
        }
        for k in ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"] {
            set(&mut env, k, BUILD_TOP.into());
        }
        set(&mut env, "NIX_LOG_FD", "2".into());
        set(&mut env, "TERM", "xterm-256color".into());
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            if k.is_empty() || k.contains('=') {
                return Err(invalid(format!("bad environment variable name {k:?}")));
            }
            envp.push(
                CString::new(format!("{k}={v}")).map_err(|_| {
                    invalid(format!("environment variable {k} contains a NUL byte"))
                })?,
            );
        }

        let builder_base = spec.builder.file_name().unwrap_or(spec.builder.as_os_str());
        let mut argv = vec![CString::new(builder_base.as_bytes())
            .map_err(|_| invalid("builder path contains a NUL byte".into()))?];
        for a in &spec.args {
            argv.push(
                CString::new(a.as_bytes())
                    .map_err(|_| invalid(format!("argument {a:?} contains a NUL byte")))?,
            );
        }
        let exec = Exec::new(
            c"/dev/null".into(),
            log_fd,
            cstr(Path::new(BUILD_TOP))?,
            cstr(&spec.builder)?,
            argv,
            envp,
        );
        Ok((steps, exec))
    }
}

fn prep_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SandboxError {
    let path = path.to_owned();
    move |source| SandboxError::Prepare { what, path, source }
}

/// The directories already created under the new root, by logical path.
struct MadeDirs {
    root: PathBuf,
    made: BTreeSet<PathBuf>,
}

impl MadeDirs {
    /// Appends `mkdir` steps for `logical` and its missing ancestors.
    fn mkdir_p(
        &mut self,
        steps: &mut Vec<Step>,
        logical: &Path,
        cstr: &dyn Fn(&Path) -> Result<CString, SandboxError>,
    ) -> Result<(), SandboxError> {
        let mut acc = PathBuf::from("/");
        for c in logical.components().skip(1) {
            acc.push(c);
            if self.made.insert(acc.clone()) {
                let host = self.root.join(acc.strip_prefix("/").unwrap_or(&acc));
                steps.push(Step::Mkdir {
                    path: cstr(&host)?,
                    mode: 0o755,
                });
            }
        }
        Ok(())
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Maps the builder ids of `pid`'s new user namespace to the unprivileged
/// build ids, and 0 to 0 for the set-up steps before the switch (only root
/// may map ids other than its own).
fn write_id_maps(pid: libc::pid_t) -> Result<(), SandboxError> {
    for (file, data) in [
        (
            "uid_map",
            format!("0 0 1\n{BUILDER_UID} {HOST_BUILD_UID} 1\n"),
        ),
        (
            "gid_map",
            format!("0 0 1\n{BUILDER_GID} {HOST_BUILD_GID} 1\n"),
        ),
    ] {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        fs::write(&path, data).map_err(prep_err("write", &path))?;
    }
    Ok(())
}

fn unsafe_getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn unsafe_getgid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}

/// The shared directory next to `scratch` on which builds mount their root.
fn root_mountpoint(scratch: &Path) -> Result<PathBuf, SandboxError> {
    let parent = scratch.parent().unwrap_or(Path::new("/"));
    let root = parent.join(".sandbox-root");
    match fs::create_dir(&root) {
        Ok(()) => Ok(root),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(root),
        Err(e) => Err(prep_err("create sandbox root mount point", &root)(e)),
    }
}

/// Checks that a sandbox path is absolute and has only normal components.
fn check_logical(p: &Path) -> Result<(), &'static str> {
    let mut comps = p.components();
    if comps.next() != Some(Component::RootDir) {
        return Err("must be absolute");
    }
    let mut any = false;
    for c in comps {
        if !matches!(c, Component::Normal(_)) {
            return Err("must not contain . or ..");
        }
        any = true;
    }
    if !any {
        return Err("must not be /");
    }
    Ok(())
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SandboxError::Spawn {
            what: "pipe",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, SandboxError> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(SandboxError::Spawn {
            what: "pidfd_open",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reads the child's set-up report: EOF means the builder was executed.
fn read_setup_error(fd: &OwnedFd) -> Result<Option<(u32, i32)>, SandboxError> {
    let mut msg = [0u8; 8];
    let mut got = 0;
    while got < msg.len() {
        // SAFETY: reads into the unfilled tail of a stack buffer.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                msg[got..].as_mut_ptr().cast(),
                msg.len() - got,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(SandboxError::Wait(e));
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    if got < msg.len() {
        return Ok(None);
    }
    let index = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]);
    let errno = i32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]);
    Ok(Some((index, errno)))
}

enum Ended {
    Exited(i32),
    Signalled(i32),
}

/// The sandbox's PID 1; killed and reaped on drop unless already reaped.
struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    fn reap(&mut self) -> io::Result<Ended> {
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            break;
        }
        self.reaped = true;
        Ok(if libc::WIFEXITED(status) {
            Ended::Exited(libc::WEXITSTATUS(status))
        } else {
            Ended::Signalled(libc::WTERMSIG(status))
        })
    }

    /// Kills PID 1 of the namespace (the kernel then kills every process in it)
    /// and waits: `waitpid` returns only once the namespace is empty.
    fn kill_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: signals our own unreaped child, so the pid cannot have been reused.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        // Nothing useful can be done if waiting fails (the child is not ours any more).
        let _ = self.reap();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Removes a directory tree even where a builder left directories read-only;
/// a file or symlink (a stale output can be either) is simply removed.
///
/// Builders are hostile and may still be running while their scratch tree is
/// removed (a fixed-output build can hold a directory fd of another build's
/// tree, received over an abstract socket, and swap entries for symlinks), so
/// every step goes through a directory fd opened without following symlinks:
/// `fchmod` and the listing act on the directory that was opened, never on
/// what a name points to now.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot remove {}: no parent directory", path.display()),
        ));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dir = match rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(d) => d,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    remove_at(&dir, name, 0)
}

/// How deep [`remove_at`] descends (each level holds a directory fd).
const MAX_REMOVE_DEPTH: usize = 512;

/// Removes `name` in the directory `dir`, recursively, following no symlink.
fn remove_at(dir: &std::os::fd::OwnedFd, name: &std::ffi::OsStr, depth: usize) -> io::Result<()> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    use rustix::io::Errno;
    let gone = |r: Result<(), Errno>| match r {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    };
    let sub = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // Not a directory (a file, a symlink, or swapped for one): unlink the name.
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return gone(rustix::fs::unlinkat(dir, name, AtFlags::empty()))
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if depth >= MAX_REMOVE_DEPTH {
        return Err(io::Error::other(format!(
            "directory tree deeper than {MAX_REMOVE_DEPTH} levels"
        )));
    }
    rustix::fs::fchmod(&sub, Mode::from_raw_mode(0o700))?;
    // A builder still running may add entries while we remove: a few rounds,
    // then give up (the directory is left, nothing outside is touched).
    for _ in 0..4 {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&sub)? {
            let entry = entry?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(std::ffi::OsStr::from_bytes(n).to_owned());
            }
        }
        for n in &names {
            remove_at(&sub, n, depth + 1)?;
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            Err(Errno::NOTEMPTY) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(
        "directory keeps being refilled while it is removed",
    ))
}

#[cfg(test)]
mod tests {
    use super::remove_tree;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn remove_tree_takes_files_links_and_read_only_trees() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("out-file");
        fs::write(&file, "stale").unwrap();
        let link = d.path().join("out-link");
        std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
        let tree = d.path().join("out-dir");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("sub/f"), "x").unwrap();
        fs::set_permissions(tree.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
        for p in [&file, &link, &tree] {
            remove_tree(p).unwrap();
            assert!(fs::symlink_metadata(p).is_err(), "{} left", p.display());
        }
        remove_tree(&d.path().join("missing")).unwrap();
    }

    /// The attack pass's race: while the scratch tree is removed, a hostile
    /// process swaps a directory of it with a symlink to a host directory
    /// (`renameat2(RENAME_EXCHANGE)`) and keeps adding files so that removal
    /// has to retry. The host directory's modes and contents must not change.
    #[test]
    fn remove_tree_never_follows_symlinks_swapped_in_while_it_runs() {
        use std::os::unix::fs::MetadataExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::create_dir_all(victim.join("a/b")).unwrap();
        fs::write(victim.join("a/keep"), "host").unwrap();
        for p in [&victim, &victim.join("a"), &victim.join("a/b")] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        for round in 0..20 {
            let tree = d.path().join(format!("scratch-{round}"));
            fs::create_dir_all(tree.join("d0/sub")).unwrap();
            fs::write(tree.join("d0/sub/f"), "x").unwrap();
            std::os::unix::fs::symlink(&victim, tree.join("s0")).unwrap();
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                // One thread swaps in a tight loop, one keeps the tree refilled.
                s.spawn(|| {
                    let a = std::ffi::CString::new(tree.join("d0").as_os_str().as_bytes()).unwrap();
                    let b = std::ffi::CString::new(tree.join("s0").as_os_str().as_bytes()).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        // SAFETY: two valid C strings; the call only renames.
                        unsafe {
                            libc::renameat2(
                                libc::AT_FDCWD,
                                a.as_ptr(),
                                libc::AT_FDCWD,
                                b.as_ptr(),
                                libc::RENAME_EXCHANGE,
                            )
                        };
                    }
                });
                s.spawn(|| {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let _ = fs::create_dir(tree.join("d0"));
                        let _ = std::os::unix::fs::symlink(&victim, tree.join("s0"));
                        let _ = fs::write(tree.join(format!("d0/new-{i}")), "y");
                        i += 1;
                    }
                });
                // Success or "keeps being refilled": either way nothing outside.
                for _ in 0..50 {
                    let _ = remove_tree(&tree);
                }
                stop.store(true, Ordering::Relaxed);
            });
            for p in [&victim, &victim.join("a"), &victim.join("a/b")] {
                let mode = fs::symlink_metadata(p).unwrap().mode() & 0o7777;
                assert_eq!(mode, 0o755, "round {round}: {} chmodded", p.display());
            }
            assert_eq!(fs::read_to_string(victim.join("a/keep")).unwrap(), "host");
        }
    }
}
