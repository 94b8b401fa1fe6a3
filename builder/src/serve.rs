//! Building for a client of `nix-store --serve` (`b8g store serve --stdio
//! --write`): the [`Builds`] the store's protocol server delegates to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b8g_store::format::derivation::Derivation;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::LocalStore;
use b8g_store::serve::server::{self, Builds, ServeError, ServeOptions};
use b8g_store::serve::{BuildResult, BuildSettings, BuildStatus};
use rustix::event::{poll, PollFd, PollFlags};

use crate::builtin::Builtins;
use crate::realise::{realise, realise_basic, BuildError, RealiseError, RealiseOptions};
use crate::sandbox::{CancelToken, SandboxError};

/// Sends each build's output lines to stderr, which ssh carries to the
/// client (Nix's remote builds show a machine's stderr as the build log).
struct StderrLines;

impl crate::schedule::Progress for StderrLines {
    fn job_log(&self, _id: crate::schedule::NodeId, line: &str) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// Builds in `store` with `opts`, the client's time limits applied on top.
pub struct StoreBuilds<'a> {
    /// The store built into.
    pub store: &'a LocalStore,
    /// Sandbox and scheduling settings.
    pub opts: RealiseOptions,
    /// The builtin builders available.
    pub builtins: &'a Builtins,
    /// Cancels running builds (the client hung up).
    pub cancel: &'a CancelToken,
}

impl StoreBuilds<'_> {
    fn options(&self, settings: &BuildSettings) -> RealiseOptions {
        let mut opts = self.opts.clone();
        // As `nix-store --serve`: builds do not substitute (the client
        // copied what they need); the caches serve QueryValidPaths only.
        opts.substituters = Default::default();
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        // The client's limits narrow ours, never widen them.
        opts.sandbox.timeout = min_limit(opts.sandbox.timeout, secs(settings.build_timeout));
        opts.sandbox.max_silent =
            min_limit(opts.sandbox.max_silent, secs(settings.max_silent_time));
        opts
    }
}

fn min_limit(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The serve protocol's status for a failed realisation.
fn status_of(e: &RealiseError) -> BuildStatus {
    match e {
        RealiseError::Failed { failures, .. } => match failures.first().map(|(_, e)| e) {
            Some(BuildError::Sandbox(
                SandboxError::TimedOut { .. } | SandboxError::Silent { .. },
            )) => BuildStatus::TimedOut,
            Some(BuildError::HashMismatch { .. }) => BuildStatus::OutputRejected,
            Some(BuildError::WrongSystem { .. }) => BuildStatus::InputRejected,
            _ => BuildStatus::PermanentFailure,
        },
        RealiseError::MissingInput { .. } | RealiseError::ReadDerivation { .. } => {
            BuildStatus::InputRejected
        }
        _ => BuildStatus::MiscFailure,
    }
}

impl Builds for StoreBuilds<'_> {
    fn build_derivation(
        &self,
        drv_path: &StorePath,
        drv: Derivation,
        settings: &BuildSettings,
    ) -> BuildResult {
        let start = now();
        let opts = self.options(settings);
        let result = realise_basic(
            self.store,
            drv_path,
            drv,
            &opts,
            self.builtins,
            &StderrLines,
            self.cancel,
        );
        let mut res = match &result {
            Ok((_, summary)) if summary.built == 0 => {
                BuildResult::failure(BuildStatus::AlreadyValid, "")
            }
            Ok(_) => {
                let mut r = BuildResult::failure(BuildStatus::Built, "");
                r.times_built = 1;
                r
            }
            Err(e) => BuildResult::failure(status_of(e), e.to_string()),
        };
        res.start_time = start;
        res.stop_time = now();
        res
    }

    fn build_paths(
        &self,
        drvs: &[StorePath],
        settings: &BuildSettings,
    ) -> Result<(), (BuildStatus, String)> {
        let opts = self.options(settings);
        realise(
            self.store,
            drvs,
            &opts,
            self.builtins,
            &StderrLines,
            self.cancel,
        )
        .map(|_| ())
        .map_err(|e| (status_of(&e), e.to_string()))
    }

    fn substitute(&self, paths: &[StorePath]) {
        // One at a time: a path no cache has must not keep the others out.
        for p in paths {
            let _ = self
                .opts
                .substituters
                .fetch(self.store, std::slice::from_ref(p));
        }
    }
}

/// Serves one client on standard input and output (`b8g store serve
/// --stdio`, what an SSH login runs). Running builds are cancelled when the
/// client hangs up.
pub fn serve_stdio(
    store: &LocalStore,
    serve: ServeOptions,
    opts: RealiseOptions,
    builtins: &Builtins,
) -> Result<(), ServeError> {
    let cancel = CancelToken::new().map_err(ServeError::Setup)?;
    let watcher = cancel.clone();
    // Polling for no event reports only hang-up and errors: a client that
    // goes away mid-build (POLLHUP on our stdin) cancels the build.
    std::thread::Builder::new()
        .name("b8g-serve-hangup".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut fds = [PollFd::new(&stdin, PollFlags::empty())];
            loop {
                match poll(&mut fds, None) {
                    Ok(_) if !fds[0].revents().is_empty() => {
                        watcher.cancel();
                        return;
                    }
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return,
                }
            }
        })
        .map_err(ServeError::Setup)?;
    let builds = StoreBuilds {
        store,
        opts,
        builtins,
        cancel: &cancel,
    };
    let active = AtomicBool::new(false);
    let mut input = IdleLimited {
        stdin: std::io::stdin(),
        active: &active,
    };
    server::serve_with(
        store,
        &mut input,
        &mut std::io::stdout().lock(),
        serve,
        &builds,
        &|on| active.store(on, Ordering::Relaxed),
    )
}

/// How long a client may send nothing in the middle of a command (a NAR
/// half sent holds the store's shared GC lock).
const COMMAND_IDLE: Duration = Duration::from_secs(300);

/// Standard input, with reads inside a command failing after
/// [`COMMAND_IDLE`] without a byte.
struct IdleLimited<'a> {
    stdin: std::io::Stdin,
    active: &'a AtomicBool,
}

impl std::io::Read for IdleLimited<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.active.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(&self.stdin, PollFlags::IN)];
            let timeout = rustix::event::Timespec {
                tv_sec: COMMAND_IDLE.as_secs() as i64,
                tv_nsec: 0,
            };
            loop {
                match poll(&mut fds, Some(&timeout)) {
                    Ok(0) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "the client sent nothing for {} s inside a command",
                                COMMAND_IDLE.as_secs()
                            ),
                        ))
                    }
                    Ok(_) => break,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.stdin.lock().read(buf)
    }
}
