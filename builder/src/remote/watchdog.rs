//! Local limits on a remote session. What a machine is told
//! (`--build-timeout`, `--max-silent-time`) it may ignore, and a stalled
//! machine would hold the build, its output locks and the store's shared GC
//! lock for ever: so the session's own process is killed here when the run
//! is cancelled, when the build's time is up, or when the machine has sent
//! nothing (no protocol byte, no log line) for the silence limit.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sandbox::CancelToken;

/// Why the watchdog ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The build's time limit passed.
    TimedOut(Duration),
    /// The machine sent nothing for this long.
    Silent(Duration),
    /// The run was cancelled.
    Cancelled,
}

#[derive(Default)]
struct Limits {
    deadline: Option<(Instant, Duration)>,
    silence: Option<Duration>,
    cancel: Option<CancelToken>,
}

struct Shared {
    base: Instant,
    /// Milliseconds since `base` of the last byte from the machine.
    last: AtomicU64,
    limits: Mutex<Limits>,
    fired: Mutex<Option<Fired>>,
    stop: AtomicBool,
}

/// Watches one session's process; stops when dropped.
pub struct Watchdog {
    shared: Arc<Shared>,
}

/// A handle that marks activity (the readers of the session's pipes).
#[derive(Clone)]
pub struct Activity {
    shared: Arc<Shared>,
}

impl Activity {
    /// The machine just sent something.
    pub fn touch(&self) {
        let ms = self.shared.base.elapsed().as_millis() as u64;
        self.shared.last.store(ms, Ordering::Relaxed);
    }
}

/// A reader that marks activity on every byte it passes on.
pub struct ActivityReader<R> {
    inner: R,
    activity: Activity,
}

impl<R: Read> ActivityReader<R> {
    pub fn new(inner: R, activity: Activity) -> Self {
        ActivityReader { inner, activity }
    }
}

impl<R: Read> Read for ActivityReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.activity.touch();
        }
        Ok(n)
    }
}

/// How often limits are looked at.
const TICK: Duration = Duration::from_millis(100);

impl Watchdog {
    /// Watches the process `pid` (killed with SIGKILL when a limit passes).
    pub fn start(pid: u32) -> (Watchdog, Activity) {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            last: AtomicU64::new(0),
            limits: Mutex::new(Limits::default()),
            fired: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let fired = {
                    let l = s.limits.lock().unwrap_or_else(|e| e.into_inner());
                    let now = s.base.elapsed();
                    let idle =
                        now.saturating_sub(Duration::from_millis(s.last.load(Ordering::Relaxed)));
                    if l.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
                        Some(Fired::Cancelled)
                    } else if let Some((_, limit)) =
                        l.deadline.filter(|(at, _)| Instant::now() >= *at)
                    {
                        Some(Fired::TimedOut(limit))
                    } else {
                        l.silence.filter(|s| idle >= *s).map(Fired::Silent)
                    }
                };
                if let Some(f) = fired {
                    // Under the lock `stop` is set with: once the session has
                    // stopped us, its child may be reaped and its pid reused.
                    let mut slot = s.fired.lock().unwrap_or_else(|e| e.into_inner());
                    if s.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    *slot = Some(f);
                    // SAFETY: plain syscall on our own child, not reaped yet (see above).
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    return;
                }
            }
        });
        let activity = Activity {
            shared: Arc::clone(&shared),
        };
        (Watchdog { shared }, activity)
    }

    /// Sets the limits of the next exchange; activity counts from now.
    pub fn arm(&self, timeout: Option<Duration>, silence: Option<Duration>, cancel: CancelToken) {
        Activity {
            shared: Arc::clone(&self.shared),
        }
        .touch();
        *self.shared.limits.lock().unwrap_or_else(|e| e.into_inner()) = Limits {
            deadline: timeout.map(|t| (Instant::now() + t, t)),
            silence,
            cancel: Some(cancel),
        };
    }

    /// Lifts the limits (the session waits idle in its pool).
    pub fn disarm(&self) {
        *self.shared.limits.lock().unwrap_or_else(|e| e.into_inner()) = Limits::default();
    }

    /// Whether, and why, the session was ended.
    pub fn fired(&self) -> Option<Fired> {
        *self.shared.fired.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops watching; after it returns the process is never killed here,
    /// so it may be reaped.
    pub fn stop(&self) {
        let _slot = self.shared.fired.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}
