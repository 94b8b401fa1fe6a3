//! The kernel's log (`/dev/kmsg`) in the journal, as journald's kmsg source keeps it:
//! each record under the `kernel` log with its priority, for `journalctl -k`. Only on
//! a real boot (reading /dev/kmsg needs CAP_SYSLOG in the initial namespace).

use super::*;
use crate::log::Entry;
use std::os::unix::fs::OpenOptionsExt;

/// The log kernel records go to.
pub(super) const KERNEL: &str = "kernel";
/// Records read per wakeup: a chatty kernel must not keep the loop here.
const BATCH: usize = 256;
/// Records read when b8g-init starts: the boot so far.
const BACKLOG: usize = 16_384;

impl Manager {
    pub(super) fn open_kmsg(&mut self) {
        if !self.cfg.boot {
            return;
        }
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/kmsg")
        {
            Ok(f) => {
                self.kmsg = Some(OwnedFd::from(f));
                // The boot's backlog at once, so that it comes first in the journal.
                self.read_kmsg(BACKLOG);
            }
            Err(e) => self.say(&format!("cannot read /dev/kmsg: {e}")),
        }
    }

    pub(super) fn handle_kmsg(&mut self) {
        self.read_kmsg(BATCH);
    }

    fn read_kmsg(&mut self, most: usize) {
        let Some(fd) = self.kmsg.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; 8192];
        // The kernel's clock for a record's time: now, minus how long ago it came.
        let mono_now = {
            let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
            // SAFETY: clock_gettime into a zeroed local.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
        };
        let wall_now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        for _ in 0..most {
            // SAFETY: one record per read(2) into a stack buffer.
            let k = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if k < 0 {
                // EPIPE: records were overwritten before we read them; go on.
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EPIPE) {
                    continue;
                }
                break;
            }
            if k == 0 {
                break;
            }
            let rec = String::from_utf8_lossy(&buf[..k as usize]);
            if let Some((prio, usec, text)) = parse_record(&rec) {
                // A record written from user space (a facility other than the kernel's)
                // is tagged by its writer, as journald reads it; b8g-init's own are in
                // its log already.
                let (ident, text) = if prio >> 3 != 0 {
                    match crate::syslog::parse_identifier(text) {
                        (Some(i), _, _) if i == MANAGER => continue,
                        (Some(i), _, rest) => (i, rest),
                        (None, _, _) => ("kernel".to_string(), text),
                    }
                } else {
                    ("kernel".to_string(), text)
                };
                let mut e = Entry::new(KERNEL, text);
                e.priority = (prio & 7) as u8;
                e.ident = Some(&ident);
                e.at_us = Some(wall_now.saturating_sub(mono_now.saturating_sub(usec)));
                let _ = self.logs.push_limited(&e);
            }
        }
    }
}

/// `PRIO,SEQ,USEC,FLAGS;MESSAGE\n` (Documentation/ABI/testing/dev-kmsg); continuation
/// lines (` KEY=VALUE`) are dropped. Returns the priority (facility × 8 + severity),
/// the kernel's microseconds
/// since boot (CLOCK_MONOTONIC) and the message.
fn parse_record(rec: &str) -> Option<(u32, u64, &str)> {
    let (head, rest) = rec.split_once(';')?;
    let mut f = head.split(',');
    let prio: u32 = f.next()?.parse().ok()?;
    let usec: u64 = f.nth(1)?.parse().ok()?;
    let msg = rest.split('\n').next().unwrap_or("");
    Some((prio, usec, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_are_taken_apart() {
        assert_eq!(
            parse_record("6,339,5140900,-;Linux version 6.1.0-28-amd64\n SUBSYSTEM=x\n"),
            Some((6, 5140900, "Linux version 6.1.0-28-amd64"))
        );
        assert_eq!(
            parse_record("30,1,2,c;facility 3, err\n"),
            Some((30, 2, "facility 3, err"))
        );
        assert_eq!(parse_record("garbage"), None);
    }
}
