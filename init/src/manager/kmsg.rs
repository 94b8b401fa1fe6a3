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
            Ok(f) => self.kmsg = Some(OwnedFd::from(f)),
            Err(e) => self.say(&format!("cannot read /dev/kmsg: {e}")),
        }
    }

    pub(super) fn handle_kmsg(&mut self) {
        let Some(fd) = self.kmsg.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; 8192];
        for _ in 0..BATCH {
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
            if let Some((prio, text)) = parse_record(&rec) {
                let mut e = Entry::new(KERNEL, text);
                e.priority = prio;
                e.ident = Some("kernel");
                let _ = self.logs.push_limited(&e);
            }
        }
    }
}

/// `PRIO,SEQ,USEC,FLAGS;MESSAGE\n` (Documentation/ABI/testing/dev-kmsg); continuation
/// lines (` KEY=VALUE`) are dropped. Returns the severity and the message.
fn parse_record(rec: &str) -> Option<(u8, &str)> {
    let (head, rest) = rec.split_once(';')?;
    let prio: u32 = head.split(',').next()?.parse().ok()?;
    let msg = rest.split('\n').next().unwrap_or("");
    Some(((prio & 7) as u8, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_are_taken_apart() {
        assert_eq!(
            parse_record("6,339,5140900,-;Linux version 6.1.0-28-amd64\n SUBSYSTEM=x\n"),
            Some((6, "Linux version 6.1.0-28-amd64"))
        );
        assert_eq!(
            parse_record("30,1,2,c;facility 3, err\n"),
            Some((6, "facility 3, err"))
        );
        assert_eq!(parse_record("garbage"), None);
    }
}
