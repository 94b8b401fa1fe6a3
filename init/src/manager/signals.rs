//! Signals PID 1 takes (systemd's and busybox's) and what each asks for.

use super::*;

/// What a signal to PID 1 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignalAction {
    Shutdown(ShutdownKind),
    /// SIGINT: the kernel's ctrl-alt-del (inittab `ctrlaltdel`, else reboot).
    CtrlAltDel,
    /// SIGPWR: inittab `powerfail` actions.
    PowerFail,
    /// SIGHUP: reload unit files (systemd: daemon-reload).
    Reload,
    /// SIGCHLD and the rest: reaping follows every batch of signals anyway.
    Nothing,
}

/// The meaning of each signal PID 1 handles: systemd's (systemd(1), SIGNALS) and
/// busybox's, whose `halt`, `poweroff` and `reboot` signal PID 1 with SIGUSR1, SIGUSR2
/// and SIGTERM (init/halt.c) and are what a b8g system has on its PATH. Where the two
/// disagree, busybox wins, because its tools are the ones users type here:
/// - SIGTERM: systemd re-executes itself (daemon-reexec, which b8g-init does not do);
///   here it reboots, as `reboot` asks.
/// - SIGUSR1: systemd reconnects to D-Bus (b8g-init has none); here it halts.
/// - SIGUSR2: systemd dumps its state to the log; here it powers off.
///
/// systemd's SIGRTMIN+3/+4/+5 (halt, poweroff, reboot) and SIGINT (ctrl-alt-del) keep
/// their meaning.
pub(super) fn signal_action(sig: i32) -> SignalAction {
    match sig {
        libc::SIGINT => SignalAction::CtrlAltDel,
        libc::SIGPWR => SignalAction::PowerFail,
        libc::SIGHUP => SignalAction::Reload,
        libc::SIGTERM => SignalAction::Shutdown(ShutdownKind::Reboot),
        libc::SIGUSR1 => SignalAction::Shutdown(ShutdownKind::Halt),
        libc::SIGUSR2 => SignalAction::Shutdown(ShutdownKind::Poweroff),
        s if s == libc::SIGRTMIN() + 3 => SignalAction::Shutdown(ShutdownKind::Halt),
        s if s == libc::SIGRTMIN() + 4 => SignalAction::Shutdown(ShutdownKind::Poweroff),
        s if s == libc::SIGRTMIN() + 5 => SignalAction::Shutdown(ShutdownKind::Reboot),
        _ => SignalAction::Nothing,
    }
}

/// How the console names a signal that shuts down.
pub(super) fn shutdown_signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        s => format!("SIGRTMIN+{}", s - libc::SIGRTMIN()),
    }
}

/// Signals PID 1 handles through its signalfd.
pub(super) fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a zeroed local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPWR,
            libc::SIGPIPE,
        ] {
            libc::sigaddset(&mut set, s);
        }
        for off in 3..=5 {
            libc::sigaddset(&mut set, libc::SIGRTMIN() + off);
        }
        set
    }
}

impl Manager {
    pub(super) fn handle_signals(&mut self) {
        let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        loop {
            // SAFETY: reading into a correctly sized buffer from our signalfd.
            let r =
                unsafe { libc::read(self.sigfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r != buf.len() as isize {
                break;
            }
            // SAFETY: the buffer holds one signalfd_siginfo.
            let info: libc::signalfd_siginfo =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
            let sig = info.ssi_signo as i32;
            match signal_action(sig) {
                SignalAction::Nothing => {}
                SignalAction::CtrlAltDel => {
                    if self.extras.ctrlaltdel.is_empty() {
                        self.say("received SIGINT (ctrl-alt-del): rebooting");
                        self.begin_shutdown(ShutdownKind::Reboot);
                    } else {
                        for c in self.extras.ctrlaltdel.clone() {
                            let _ = self.run_sh(&c);
                        }
                    }
                }
                SignalAction::Shutdown(kind) => {
                    self.say(&format!(
                        "received {} from pid {}: {}",
                        shutdown_signal_name(sig),
                        info.ssi_pid,
                        match kind {
                            ShutdownKind::Poweroff => "powering off",
                            ShutdownKind::Reboot => "rebooting",
                            ShutdownKind::Halt => "halting",
                        }
                    ));
                    self.begin_shutdown(kind);
                }
                SignalAction::PowerFail => {
                    for c in self.extras.powerfail.clone() {
                        let _ = self.run_sh(&c);
                    }
                }
                SignalAction::Reload => {
                    self.say("received SIGHUP: reloading units");
                    self.reload_units();
                }
            }
        }
        self.reap();
    }
}
