//! What the shim tells the host on the console, and how the app's exit code
//! leaves the VM.
//!
//! - Right before it execs the app, the shim's child prints the exec marker
//!   `b8g-unikernel: exec APP boottime=S.UUUUUU` (the guest's `CLOCK_BOOTTIME`);
//!   the runner and the benchmark time the boot by it.
//! - When the app has ended: `b8g-unikernel: app exited with status N`.
//! - Then the shim writes the code to qemu's `isa-debug-exit` port, and qemu
//!   exits with `(code << 1) | 1`.

use std::io::{Cursor, Write};
use std::time::Duration;

/// The start of the exec marker line.
pub const EXEC_MARKER: &str = "b8g-unikernel: exec";
/// The shim's last line, before the app's exit code.
pub const EXITED: &str = "b8g-unikernel: app exited with status ";
/// The I/O port of qemu's `isa-debug-exit` device (`iobase=0xf4` in the manifest).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The exec marker of one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecMarker<'a> {
    pub app: &'a str,
    /// The guest's `CLOCK_BOOTTIME` (microseconds are printed).
    pub boottime: Duration,
}

impl<'a> ExecMarker<'a> {
    /// Writes the line (with its newline) into `buf` without allocating — the
    /// shim does it between fork and exec — and returns its length; a line
    /// longer than `buf` is cut.
    pub fn write_to(&self, buf: &mut [u8]) -> usize {
        let mut w = Cursor::new(buf);
        let _ = w.write_fmt(format_args!(
            "{EXEC_MARKER} {} boottime={}.{:06}\n",
            self.app,
            self.boottime.as_secs(),
            self.boottime.subsec_micros()
        ));
        usize::try_from(w.position()).unwrap_or(usize::MAX)
    }

    /// The marker in a console line (firmware may put bytes before it).
    pub fn parse(line: &'a str) -> Option<ExecMarker<'a>> {
        let (_, rest) = line.split_once(EXEC_MARKER)?;
        let (app, time) = rest.strip_prefix(' ')?.rsplit_once(" boottime=")?;
        Some(ExecMarker {
            app,
            boottime: seconds(time)?,
        })
    }
}

/// `boottime=S.UUUUUU` out of a marker line (the exec marker, or another
/// marker that carries the guest's boot time the same way).
pub fn parse_boottime(line: &str) -> Option<Duration> {
    seconds(line.split("boottime=").nth(1)?)
}

/// `S.UUUUUU` at the start of `v`, up to white space.
fn seconds(v: &str) -> Option<Duration> {
    let (s, us) = v.split_whitespace().next()?.split_once('.')?;
    Some(Duration::from_secs(s.parse().ok()?) + Duration::from_micros(us.parse().ok()?))
}

/// `b8g-unikernel: app exited with status N`.
pub fn exited_line(code: i32) -> String {
    format!("{EXITED}{code}")
}

/// The status in the shim's exit line, if `line` is one.
pub fn parse_exited(line: &str) -> Option<i32> {
    line.split(EXITED).nth(1)?.trim().parse().ok()
}

/// The value the shim writes to the debug-exit port: the device carries
/// `(code << 1) | 1` in an 8-bit exit status, so codes above 127 (128 +
/// signal) are reported as 127.
pub fn debug_exit_code(code: i32) -> u32 {
    code.clamp(0, 127).unsigned_abs()
}

/// The app's code from qemu's exit status: odd statuses come from the
/// device; an even one (a plain power-off, a panic with `-no-reboot`) carries none.
pub fn decode_debug_exit(qemu_status: i32) -> Option<i32> {
    (qemu_status & 1 == 1).then_some(qemu_status >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_parsable_and_fits() {
        let mut buf = [0u8; 512];
        let m = ExecMarker {
            app: "/s/bin/app",
            boottime: Duration::new(1, 234_567_000),
        };
        let n = m.write_to(&mut buf);
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(line, "b8g-unikernel: exec /s/bin/app boottime=1.234567\n");
        assert_eq!(ExecMarker::parse(line.trim_end()), Some(m));
        assert_eq!(ExecMarker::parse(&format!("\x1b[0m{line}")), Some(m));
        let long = "x".repeat(2000);
        let cut = ExecMarker {
            app: &long,
            boottime: Duration::ZERO,
        };
        assert_eq!(cut.write_to(&mut buf), 512);
    }

    #[test]
    fn boottime_parses() {
        assert_eq!(
            parse_boottime("b8g-unikernel: exec /s/bin/app boottime=1.234567"),
            Some(Duration::from_micros(1_234_567))
        );
        assert_eq!(parse_boottime("nothing"), None);
        assert_eq!(ExecMarker::parse("b8g-unikernel: exec /a"), None);
        let odd = ExecMarker {
            app: "/s/bin/app boottime=9.0",
            boottime: Duration::from_micros(5),
        };
        let mut buf = [0u8; 128];
        let n = odd.write_to(&mut buf);
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(ExecMarker::parse(line), Some(odd));
    }

    #[test]
    fn exit_lines_round_trip() {
        for code in [0, 3, 139] {
            assert_eq!(parse_exited(&exited_line(code)), Some(code));
        }
        assert_eq!(exited_line(3), "b8g-unikernel: app exited with status 3");
        assert_eq!(parse_exited("hello"), None);
    }

    #[test]
    fn exit_codes_fit_the_device_and_come_back() {
        assert_eq!(debug_exit_code(0), 0);
        assert_eq!(debug_exit_code(3), 3);
        assert_eq!(debug_exit_code(139), 127);
        assert_eq!(debug_exit_code(-1), 0);
        for code in [0, 3, 127] {
            let qemu = (i32::try_from(debug_exit_code(code)).unwrap() << 1) | 1;
            assert_eq!(decode_debug_exit(qemu), Some(code));
        }
        assert_eq!(decode_debug_exit(0), None);
        assert_eq!(decode_debug_exit(255), Some(127));
    }
}
