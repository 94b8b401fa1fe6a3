//! Booting a unikernel image under qemu (TCG) and reading back what the app did:
//! its console output, the time to the shim's exec marker (host wall clock and
//! the guest's `CLOCK_BOOTTIME`), its exit status (from qemu's `isa-debug-exit`
//! code) and qemu's peak resident memory.
//!
//! [`run_vm`] works for any [`Vm`], so the benchmark measures the full system
//! the same way.

use super::manifest::{Manifest, ManifestError};
use crate::linux::qemu::{forward_lines, Vm};
use b8g_layout::unikernel::console::{decode_debug_exit, parse_exited, EXITED};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use b8g_layout::unikernel::console::parse_boottime;
/// The shim's marker, printed right before it execs the app:
/// `b8g-unikernel: exec APP boottime=S.UUUUUU`.
pub use b8g_layout::unikernel::console::EXEC_MARKER as MARKER;

/// Why an image could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source} (is this a unikernel image?)")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("waiting for qemu failed: {0}")]
    Wait(#[source] io::Error),
}

/// True when `dir` looks like a unikernel image (`kernel`, `initrd`, `manifest`).
pub fn is_image(dir: &Path) -> bool {
    ["kernel", "initrd", "manifest"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// The VM that boots the image in `dir` (a realised `unikernel` output).
pub fn vm(dir: &Path) -> Result<Vm, RunError> {
    let path = dir.join("manifest");
    let text = fs::read_to_string(&path).map_err(|source| RunError::Read {
        path: path.clone(),
        source,
    })?;
    let m = Manifest::parse(&text).map_err(|source| RunError::Manifest { path, source })?;
    let mut vm = Vm::new(dir.join("kernel"));
    vm.initrd = Some(dir.join("initrd"));
    vm.machine = m.machine;
    vm.memory_mb = m.memory_mib;
    vm.cmdline = m.append;
    vm.extra = m.qemu_args;
    Ok(vm)
}

/// The app's exit code carried by qemu's exit status: `isa-debug-exit` makes qemu
/// exit with `(code << 1) | 1`; an even status (0 after a plain power-off or a
/// panic with `-no-reboot`, or a signal) carries none.
pub fn decode_exit(status: ExitStatus) -> Option<i32> {
    status.code().and_then(decode_debug_exit)
}

/// What one boot did.
#[derive(Debug)]
pub struct Run {
    /// Console lines (and qemu's own messages).
    pub output: String,
    pub status: ExitStatus,
    /// The app's exit code from qemu's exit status, when the shim reported one.
    pub app_status: Option<i32>,
    /// The exact status the shim printed (codes above 127 do not fit the device).
    pub printed_status: Option<i32>,
    pub timed_out: bool,
    /// True when qemu was stopped because `stop_at` appeared.
    pub stopped: bool,
    pub elapsed: Duration,
    /// Launch to the line holding the marker (host wall clock).
    pub marker_at: Option<Duration>,
    /// Launch to the first line after the marker: the app's first output.
    pub first_output_at: Option<Duration>,
    /// The guest's `CLOCK_BOOTTIME` in the marker.
    pub guest_boottime: Option<Duration>,
    /// qemu's peak resident set (VmHWM), last read before it ended.
    pub peak_rss_kib: Option<u64>,
}

fn peak_rss(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Boots `vm`, handing each console line to `on_line`, until qemu exits, `timeout`
/// passes, or (when given) a line holds `stop_at` (qemu is killed a second later).
/// `marker` is the line whose time is recorded (the shim's [`MARKER`] for unikernels).
pub fn run_vm(
    vm: &Vm,
    timeout: Duration,
    marker: &str,
    stop_at: Option<&str>,
    on_line: &mut dyn FnMut(&str),
) -> Result<Run, RunError> {
    let start = Instant::now();
    let mut child = Command::new(&vm.qemu)
        .args(vm.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: vm.qemu.clone(),
            source,
        })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward_lines(out, tx)));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward_lines(err, tx)));
    }
    drop(tx);
    let mut r = Run {
        output: String::new(),
        status: ExitStatus::default(),
        app_status: None,
        printed_status: None,
        timed_out: false,
        stopped: false,
        elapsed: Duration::ZERO,
        marker_at: None,
        first_output_at: None,
        guest_boottime: None,
        peak_rss_kib: None,
    };
    let mut take = |r: &mut Run, at: Instant, line: String| {
        if r.marker_at.is_some() && r.first_output_at.is_none() {
            r.first_output_at = Some(at - start);
        }
        if r.marker_at.is_none() && line.contains(marker) {
            r.marker_at = Some(at - start);
            r.guest_boottime = parse_boottime(&line);
        }
        if line.contains(EXITED) {
            r.printed_status = parse_exited(&line);
        }
        let stop = stop_at.is_some_and(|s| line.contains(s));
        on_line(&line);
        r.output.push_str(&line);
        r.output.push('\n');
        stop
    };
    // When `stop_at` appears the VM gets one more second (a server may log a
    // request before it has sent the reply), then qemu is killed.
    let mut stop_deadline: Option<Instant> = None;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok((at, line)) => {
                if take(&mut r, at, line) && stop_deadline.is_none() {
                    stop_deadline = Some(Instant::now() + Duration::from_secs(1));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both pipes closed: qemu is ending.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break child.wait().map_err(RunError::Wait)?;
            }
        }
        if let Some(kib) = peak_rss(pid) {
            r.peak_rss_kib = Some(kib);
        }
        if stop_deadline.is_some_and(|d| Instant::now() >= d) {
            r.stopped = true;
            let _ = child.kill();
            break child.wait().map_err(RunError::Wait)?;
        }
        if start.elapsed() > timeout {
            r.timed_out = true;
            let _ = child.kill();
            break child.wait().map_err(RunError::Wait)?;
        }
    };
    r.elapsed = start.elapsed();
    for t in readers {
        let _ = t.join();
    }
    while let Ok((at, line)) = rx.try_recv() {
        take(&mut r, at, line);
    }
    r.status = status;
    if !r.stopped && !r.timed_out {
        r.app_status = decode_exit(status);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_codes_decode() {
        assert_eq!(decode_exit(ExitStatus::from_raw(1 << 8)), Some(0));
        assert_eq!(decode_exit(ExitStatus::from_raw(7 << 8)), Some(3));
        assert_eq!(decode_exit(ExitStatus::from_raw(255 << 8)), Some(127));
        assert_eq!(decode_exit(ExitStatus::from_raw(0)), None);
        assert_eq!(decode_exit(ExitStatus::from_raw(9)), None);
    }

    #[test]
    fn vm_from_manifest() {
        let d = tempfile::tempdir().unwrap();
        for f in ["kernel", "initrd"] {
            fs::write(d.path().join(f), "x").unwrap();
        }
        assert!(!is_image(d.path()));
        fs::write(
            d.path().join("manifest"),
            "memory=96M\nmachine=q35\nappend=quiet\nqemu-arg=-device\nqemu-arg=isa-debug-exit,iobase=0xf4,iosize=0x04\n",
        )
        .unwrap();
        assert!(is_image(d.path()));
        let a = vm(d.path()).unwrap().args();
        assert!(a.windows(2).any(|w| w == ["-M", "q35"]));
        assert!(a.windows(2).any(|w| w == ["-m", "96M"]));
        assert!(a.contains(&"console=ttyS0 quiet panic=-1".to_string()));
        assert!(a.ends_with(&[
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04".into()
        ]));
    }
}
