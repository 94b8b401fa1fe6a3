//! Where PID 1's own messages and unit states go: console, kernel log, or both.

use super::*;

/// Where a manager message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MessageRoute {
    /// Written to the console only (not booting: tests, containers).
    Console,
    /// Written to the console, and to the kernel log, which does not echo it.
    ConsoleAndKmsg,
    /// Written to the kernel log only: the kernel prints it on the console itself.
    Kmsg,
}

/// The kernel level of manager messages in /dev/kmsg (KERN_INFO, as systemd's).
pub(super) const KMSG_LEVEL: u32 = 6;

/// Each manager message must reach the console once. The kernel itself prints every
/// kernel-log record whose level is below its console log level (the first field of
/// /proc/sys/kernel/printk: 7 by default, 4 with `quiet`) on its consoles, the ones
/// /dev/console writes to. So, like systemd's PID 1 (which logs to kmsg and leaves the
/// console to the kernel): when the kernel will echo the record and our console is
/// /dev/console, write the kernel log only; otherwise write the console, and (booting)
/// the kernel log as well so `dmesg` keeps the message.
pub(super) fn message_route(
    boot: bool,
    console: Option<&Path>,
    loglevel: Option<u32>,
) -> MessageRoute {
    if !boot {
        return MessageRoute::Console;
    }
    let echoed = loglevel.is_some_and(|l| KMSG_LEVEL < l);
    if echoed && console == Some(Path::new("/dev/console")) {
        MessageRoute::Kmsg
    } else {
        MessageRoute::ConsoleAndKmsg
    }
}

/// Whether a unit's state change goes to the console: while the boot starts its units
/// and while the system stops, as systemd's status output (`manager_get_show_status`);
/// afterwards a timer's service every 15 s would write over the user's shell. Failures
/// always show.
pub(super) fn state_on_console(boot: bool, settled: bool, stopping: bool, failed: bool) -> bool {
    failed || (boot && (!settled || stopping))
}

/// One kernel-log record: `<level>b8g-init: msg`, in one write, since every write(2) to
/// /dev/kmsg is a record of its own (`writeln!` on a file wrote three, and the kernel
/// printed the message over three lines).
pub(super) fn kmsg_record(msg: &str) -> Vec<u8> {
    format!("<{KMSG_LEVEL}>{MANAGER}: {msg}\n").into_bytes()
}

/// Writes one record to /dev/kmsg. Opened for each message: the kernel rate-limits
/// writers per open file (10 records in 5 s), which a boot's messages would exceed.
pub(super) fn write_kmsg(msg: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")?
        .write_all(&kmsg_record(msg))
}

impl Manager {
    /// A manager message: into the b8g-init log, and once onto the console.
    pub(super) fn say(&mut self, msg: &str) {
        let line = self.logs.push(MANAGER, msg);
        self.announce(&line, msg);
    }

    /// Puts a manager message (`line` as logged, `msg` bare) on the console exactly once,
    /// and into the kernel log when booting (see [`message_route`]).
    pub(super) fn announce(&self, line: &str, msg: &str) {
        let loglevel = std::fs::read_to_string("/proc/sys/kernel/printk")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        match message_route(self.cfg.boot, self.cfg.console.as_deref(), loglevel) {
            MessageRoute::Console => self.console(line),
            MessageRoute::ConsoleAndKmsg => {
                self.console(line);
                let _ = write_kmsg(msg);
            }
            MessageRoute::Kmsg => {
                if write_kmsg(msg).is_err() {
                    self.console(line);
                }
            }
        }
    }

    pub(super) fn console(&self, line: &str) {
        match &self.cfg.console {
            Some(p) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .custom_flags_noctty()
                    .open(p)
                {
                    // One write, so a kernel-log record the kernel prints meanwhile cannot
                    // land between the line and its newline.
                    let _ = f.write_all(format!("{line}\n").as_bytes());
                    return;
                }
                eprintln!("{line}");
            }
            None => eprintln!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_states_reach_the_console_only_while_starting_or_stopping() {
        // Regression (issue 21): a timer's service wrote "started"/"stopped" over the
        // shell every 15 s after boot.
        assert!(state_on_console(true, false, false, false));
        assert!(!state_on_console(true, true, false, false));
        assert!(state_on_console(true, true, true, false));
        assert!(state_on_console(true, true, false, true));
        assert!(!state_on_console(false, false, false, false));
    }

    #[test]
    fn manager_messages_reach_the_console_once() {
        // Regression (issue 21): without `quiet` every message showed twice, once
        // written to the console and once echoed by the kernel from /dev/kmsg.
        let dev = Some(Path::new("/dev/console"));
        assert_eq!(message_route(true, dev, Some(7)), MessageRoute::Kmsg);
        assert_eq!(message_route(true, dev, Some(8)), MessageRoute::Kmsg);
        // `quiet` (4) or `loglevel=6` and lower: the kernel keeps the record to itself.
        assert_eq!(
            message_route(true, dev, Some(4)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(
            message_route(true, dev, Some(6)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(message_route(true, dev, None), MessageRoute::ConsoleAndKmsg);
        let other = Some(Path::new("/dev/ttyS1"));
        assert_eq!(
            message_route(true, other, Some(7)),
            MessageRoute::ConsoleAndKmsg
        );
        assert_eq!(message_route(false, dev, Some(7)), MessageRoute::Console);
        assert_eq!(message_route(false, None, Some(7)), MessageRoute::Console);
    }

    #[test]
    fn a_kmsg_record_is_one_line_in_one_write() {
        // Regression (issue 21): `writeln!` wrote prefix, message and newline as three
        // records, which the kernel printed on three lines.
        assert_eq!(
            kmsg_record("shutting down (Poweroff)"),
            b"<6>b8g-init: shutting down (Poweroff)\n"
        );
    }
}
