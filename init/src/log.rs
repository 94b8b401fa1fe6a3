//! Per-unit logs: a bounded ring in memory (what `b8gctl log` and `journalctl` read) and
//! an append-only file `<log dir>/UNIT.log`, rotated to `UNIT.log.1` past a size bound
//! so that no service can fill the disk. Each line carries the milliseconds since
//! b8g-init started, the wall-clock time, a syslog priority and, for syslog messages,
//! the sender's identifier and pid. A unit's lines are rate-limited as journald's are
//! (journald.conf(5): `RateLimitIntervalSec=30s`, `RateLimitBurst=10000`).

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

const RING: usize = 2000;
/// The most text (identifiers included) one unit's ring keeps in memory: long lines push
/// old ones out sooner.
const RING_BYTES: usize = 2 << 20;
/// A unit's log file is rotated when it grows past this; one rotated file is kept.
pub const FILE_MAX: u64 = 8 << 20;
/// syslog(3)'s LOG_INFO: what a line without a priority gets (systemd's `SyslogLevel=`).
pub const INFO: u8 = 6;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub seq: u64,
    pub ms: u64,
    pub unit: String,
    pub text: String,
    /// 0 (emerg) to 7 (debug).
    #[serde(default = "info")]
    pub priority: u8,
    /// Microseconds since the epoch when the line was received.
    #[serde(default)]
    pub realtime_us: u64,
    /// The syslog identifier (`SyslogIdentifier=`, or a syslog message's tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<String>,
    /// The pid the message names (a syslog tag's `[PID]`): the sender's word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The sender's pid and uid as the kernel gave them (journald's `_PID`, `_UID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_uid: Option<u32>,
}

fn info() -> u8 {
    INFO
}

/// Control characters as `\\xNN` (a newline in a message must not make a second line
/// in a log file or on a terminal, nor an escape sequence reach one).
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl LogLine {
    /// The message as syslog and journalctl's short format show it: `ident[pid]: text`.
    pub fn tagged(&self) -> String {
        tagged(
            self.ident.as_deref(),
            self.pid.or(self.sender_pid),
            &self.text,
        )
    }
}

fn tagged(ident: Option<&str>, pid: Option<i32>, text: &str) -> String {
    match (ident, pid) {
        (Some(i), Some(p)) => format!("{i}[{p}]: {text}"),
        (Some(i), None) => format!("{i}: {text}"),
        _ => text.to_string(),
    }
}

/// One line to log, before it gets its sequence number and times.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub unit: &'a str,
    pub text: &'a str,
    pub priority: u8,
    pub ident: Option<&'a str>,
    pub pid: Option<i32>,
    /// The kernel's (pid, uid) of the sender.
    pub sender: Option<(i32, u32)>,
    /// When it happened, if not now (a kernel record's own time), in µs since the epoch.
    pub at_us: Option<u64>,
    /// The rate limit budget the line counts against (the unit's when None).
    pub limit_key: Option<String>,
}

impl<'a> Entry<'a> {
    pub fn new(unit: &'a str, text: &'a str) -> Entry<'a> {
        Entry {
            unit,
            text,
            priority: INFO,
            ident: None,
            pid: None,
            sender: None,
            at_us: None,
            limit_key: None,
        }
    }
}

/// journald's per-source rate limit: at most `burst` lines per `interval`; what is
/// dropped is counted and reported once the next interval begins.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            interval: Duration::from_secs(30),
            burst: 10_000,
        }
    }
}

#[derive(Default)]
struct Window {
    began: Option<Instant>,
    count: u32,
    dropped: u64,
}

/// A line as a ring keeps it, in about half of a [`LogLine`]'s memory (PID 1 keeps
/// thousands): the unit is the ring's key, and the identifier and the text share one
/// allocation.
struct Stored {
    seq: u64,
    ms: u64,
    realtime_us: u64,
    pid: Option<i32>,
    sender: Option<(i32, u32)>,
    priority: u8,
    /// The identifier's length at the start of `body`, when there is one.
    ident_len: Option<u32>,
    body: Box<str>,
}

impl Stored {
    fn new(seq: u64, ms: u64, realtime_us: u64, e: &Entry) -> Stored {
        // Identifiers come from datagrams of at most 16 KiB.
        let ident = e.ident.filter(|i| u32::try_from(i.len()).is_ok());
        let body = match ident {
            Some(i) => format!("{i}{}", e.text).into_boxed_str(),
            None => e.text.into(),
        };
        Stored {
            seq,
            ms,
            realtime_us,
            pid: e.pid,
            sender: e.sender,
            priority: e.priority.min(7),
            ident_len: ident.map(|i| i.len() as u32),
            body,
        }
    }

    fn text(&self) -> &str {
        &self.body[self.ident_len.unwrap_or(0) as usize..]
    }

    fn line(&self, unit: &str) -> LogLine {
        LogLine {
            seq: self.seq,
            ms: self.ms,
            unit: unit.to_string(),
            text: self.text().to_string(),
            priority: self.priority,
            realtime_us: self.realtime_us,
            ident: self.ident_len.map(|n| self.body[..n as usize].to_string()),
            pid: self.pid,
            sender_pid: self.sender.map(|s| s.0),
            sender_uid: self.sender.map(|s| s.1),
        }
    }
}

struct File {
    f: std::fs::File,
    len: u64,
}

pub struct Logs {
    start: Instant,
    seq: u64,
    rings: BTreeMap<String, VecDeque<Stored>>,
    ring_bytes: BTreeMap<String, usize>,
    files: BTreeMap<String, File>,
    windows: BTreeMap<String, Window>,
    pub dir: PathBuf,
    pub rate: RateLimit,
    pub file_max: u64,
    /// Off during the last stage of shutdown, when file systems are being unmounted.
    pub to_files: bool,
}

impl Logs {
    pub fn new(dir: PathBuf, start: Instant) -> Logs {
        Logs {
            start,
            seq: 0,
            rings: BTreeMap::new(),
            ring_bytes: BTreeMap::new(),
            files: BTreeMap::new(),
            windows: BTreeMap::new(),
            dir,
            rate: RateLimit::default(),
            file_max: FILE_MAX,
            to_files: true,
        }
    }

    pub fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Appends one line for `unit` (b8g-init's own words: never rate-limited) and
    /// returns the formatted line.
    pub fn push(&mut self, unit: &str, text: &str) -> String {
        self.append(&Entry::new(unit, text))
    }

    /// Appends what a service or a syslog client sent, under the unit's rate limit.
    /// Returns the formatted line, or None when the line was dropped.
    pub fn push_limited(&mut self, e: &Entry) -> Option<String> {
        let now = Instant::now();
        let key = e.limit_key.clone().unwrap_or_else(|| e.unit.to_string());
        let w = self.windows.entry(key.clone()).or_default();
        let fresh = w
            .began
            .is_none_or(|b| now.duration_since(b) >= self.rate.interval);
        if fresh {
            let dropped = std::mem::take(&mut w.dropped);
            w.began = Some(now);
            w.count = 0;
            if dropped > 0 {
                let note = match &e.limit_key {
                    Some(k) => format!("Suppressed {dropped} messages from {k}"),
                    None => format!("Suppressed {dropped} messages from {}", e.unit),
                };
                let mut n = Entry::new(e.unit, &note);
                n.priority = 4;
                self.append(&n);
            }
        }
        let w = self.windows.get_mut(&key).expect("window made above");
        if w.count >= self.rate.burst {
            w.dropped += 1;
            return None;
        }
        w.count += 1;
        Some(self.append(e))
    }

    fn append(&mut self, e: &Entry) -> String {
        self.seq += 1;
        let realtime_us = e.at_us.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0)
        });
        let ms = self.ms();
        let stored = Stored::new(self.seq, ms, realtime_us, e);
        let formatted = format!(
            "[{:>6}.{:03}] {}: {}",
            ms / 1000,
            ms % 1000,
            e.unit,
            tagged(e.ident, e.pid.or(e.sender.map(|s| s.0)), e.text)
        );
        let formatted = escape_controls(&formatted).into_owned();
        self.write_file(e.unit, &formatted);
        let ring = match self.rings.get_mut(e.unit) {
            Some(r) => r,
            None => self.rings.entry(e.unit.to_string()).or_default(),
        };
        let bytes = match self.ring_bytes.get_mut(e.unit) {
            Some(b) => b,
            None => self.ring_bytes.entry(e.unit.to_string()).or_default(),
        };
        *bytes += stored.body.len();
        ring.push_back(stored);
        while ring.len() > RING || (*bytes > RING_BYTES && ring.len() > 1) {
            if let Some(old) = ring.pop_front() {
                *bytes -= old.body.len();
            }
        }
        formatted
    }

    fn write_file(&mut self, unit: &str, formatted: &str) {
        if !self.to_files {
            return;
        }
        if !self.files.contains_key(unit) {
            // The log directory may not exist yet early in boot; retry on the next line.
            if std::fs::create_dir_all(&self.dir).is_err() {
                return;
            }
            let path = self.dir.join(format!("{unit}.log"));
            let Ok(f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            else {
                return;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.files.insert(unit.to_string(), File { f, len });
        }
        let Some(file) = self.files.get_mut(unit) else {
            return;
        };
        if writeln!(file.f, "{formatted}").is_ok() {
            file.len += formatted.len() as u64 + 1;
        }
        if file.len >= self.file_max {
            // The rotated file replaces the older one; the next line opens a new file.
            self.files.remove(unit);
            let path = self.dir.join(format!("{unit}.log"));
            let _ = std::fs::rename(&path, self.dir.join(format!("{unit}.log.1")));
        }
    }

    /// Lines of `unit` with a sequence number above `after`.
    pub fn since(&self, unit: &str, after: u64) -> Vec<LogLine> {
        self.rings
            .get(unit)
            .map(|r| {
                r.iter()
                    .filter(|l| l.seq > after)
                    .map(|l| l.line(unit))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Lines of every unit (and of b8g-init itself) with a sequence number above
    /// `after`, in the order they were written: what `journalctl` shows.
    pub fn all_since(&self, after: u64) -> Vec<LogLine> {
        let mut all: Vec<LogLine> = self
            .rings
            .iter()
            .flat_map(|(unit, r)| r.iter().filter(|l| l.seq > after).map(|l| l.line(unit)))
            .collect();
        all.sort_by_key(|l| l.seq);
        all
    }

    /// Drops the ring and file handle of a unit that no longer exists.
    pub fn forget(&mut self, unit: &str) {
        self.rings.remove(unit);
        self.ring_bytes.remove(unit);
        self.files.remove(unit);
        let prefix = format!("{unit} uid ");
        self.windows
            .retain(|k, _| k != unit && !k.starts_with(&prefix));
    }

    /// Closes files so a new log directory (after mounting /var) is picked up.
    pub fn reopen(&mut self) {
        self.files.clear();
    }

    /// Closes all files and stops writing them (the rings keep working).
    pub fn close_files(&mut self) {
        self.files.clear();
        self.to_files = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_since_merges_the_units_in_the_order_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Logs::new(dir.path().join("log"), Instant::now());
        logs.push("b.service", "one");
        logs.push("a.service", "two");
        logs.push("b.service", "three");
        let all: Vec<_> = logs.all_since(0).into_iter().map(|l| l.text).collect();
        assert_eq!(all, ["one", "two", "three"]);
        let later: Vec<_> = logs.all_since(1).into_iter().map(|l| l.unit).collect();
        assert_eq!(later, ["a.service", "b.service"]);
    }

    #[test]
    fn a_unit_over_its_burst_is_cut_and_the_count_reported_in_the_next_interval() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Logs::new(dir.path().join("log"), Instant::now());
        logs.rate = RateLimit {
            interval: Duration::from_millis(200),
            burst: 3,
        };
        let kept = (0..10)
            .filter(|i| {
                logs.push_limited(&Entry::new("a.service", &format!("l{i}")))
                    .is_some()
            })
            .count();
        assert_eq!(kept, 3);
        // Another unit has its own budget, and b8g-init's lines are never cut.
        assert!(logs.push_limited(&Entry::new("b.service", "b")).is_some());
        for _ in 0..5 {
            logs.push("b8g-init", "x");
        }
        std::thread::sleep(Duration::from_millis(250));
        assert!(logs
            .push_limited(&Entry::new("a.service", "later"))
            .is_some());
        let a: Vec<_> = logs
            .since("a.service", 0)
            .into_iter()
            .map(|l| l.text)
            .collect();
        assert_eq!(
            a,
            [
                "l0",
                "l1",
                "l2",
                "Suppressed 7 messages from a.service",
                "later"
            ]
        );
        assert_eq!(logs.since("a.service", 0)[3].priority, 4);
    }

    #[test]
    fn a_log_file_past_its_bound_is_rotated_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Logs::new(dir.path().to_path_buf(), Instant::now());
        logs.file_max = 1000;
        for i in 0..100 {
            logs.push("a.service", &format!("line {i:03} {}", "x".repeat(40)));
        }
        let cur = std::fs::metadata(dir.path().join("a.service.log"))
            .unwrap()
            .len();
        let old = std::fs::metadata(dir.path().join("a.service.log.1"))
            .unwrap()
            .len();
        assert!(cur < 1000 && (1000..1100).contains(&old), "{cur} {old}");
        assert!(!dir.path().join("a.service.log.2").exists());
        let text = std::fs::read_to_string(dir.path().join("a.service.log")).unwrap();
        assert!(text
            .trim_end()
            .ends_with(&format!("line 099 {}", "x".repeat(40))));
    }

    #[test]
    fn tagged_lines_name_the_sender_as_syslog_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Logs::new(dir.path().to_path_buf(), Instant::now());
        let mut e = Entry::new("ssh.service", "Accepted publickey for alice");
        e.ident = Some("sshd");
        e.pid = Some(812);
        e.priority = 9;
        let f = logs.push_limited(&e).unwrap();
        assert!(
            f.ends_with("ssh.service: sshd[812]: Accepted publickey for alice"),
            "{f}"
        );
        let l = &logs.since("ssh.service", 0)[0];
        assert_eq!(
            (l.priority, l.text.as_str()),
            (7, "Accepted publickey for alice")
        );
        assert!(l.realtime_us > 1_600_000_000_000_000);
    }

    #[test]
    fn a_ring_keeps_bounded_text_and_files_no_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Logs::new(dir.path().to_path_buf(), Instant::now());
        let big = "x".repeat(16 * 1024);
        for _ in 0..1000 {
            logs.push("a.service", &big);
        }
        let kept: usize = logs
            .since("a.service", 0)
            .iter()
            .map(|l| l.text.len())
            .sum();
        assert!(kept <= RING_BYTES, "{kept}");
        logs.push("b.service", "one\nfake: line\x1b[2J");
        let text = std::fs::read_to_string(dir.path().join("b.service.log")).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("one\\x0afake: line\\x1b[2J"), "{text}");
    }
}
