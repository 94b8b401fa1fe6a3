//! Per-unit logs: a bounded ring in memory (what `b8gctl log` reads) and an append-only
//! file `<log dir>/UNIT.log`. Each line carries the milliseconds since b8g-init started.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

const RING: usize = 2000;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub seq: u64,
    pub ms: u64,
    pub unit: String,
    pub text: String,
}

pub struct Logs {
    start: Instant,
    seq: u64,
    rings: BTreeMap<String, VecDeque<LogLine>>,
    files: BTreeMap<String, std::fs::File>,
    pub dir: PathBuf,
    /// Off during the last stage of shutdown, when file systems are being unmounted.
    pub to_files: bool,
}

impl Logs {
    pub fn new(dir: PathBuf, start: Instant) -> Logs {
        Logs {
            start,
            seq: 0,
            rings: BTreeMap::new(),
            files: BTreeMap::new(),
            dir,
            to_files: true,
        }
    }

    pub fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Appends one line for `unit` and returns the formatted line.
    pub fn push(&mut self, unit: &str, text: &str) -> String {
        self.seq += 1;
        let line = LogLine {
            seq: self.seq,
            ms: self.ms(),
            unit: unit.to_string(),
            text: text.to_string(),
        };
        let formatted = format!(
            "[{:>6}.{:03}] {}: {}",
            line.ms / 1000,
            line.ms % 1000,
            unit,
            text
        );
        if self.to_files && !self.files.contains_key(unit) {
            // The log directory may not exist yet early in boot; retry on the next line.
            if std::fs::create_dir_all(&self.dir).is_ok() {
                if let Ok(f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(format!("{unit}.log")))
                {
                    self.files.insert(unit.to_string(), f);
                }
            }
        }
        if let Some(f) = self.files.get_mut(unit) {
            let _ = writeln!(f, "{formatted}");
        }
        let ring = self.rings.entry(unit.to_string()).or_default();
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(line);
        formatted
    }

    /// Lines of `unit` with a sequence number above `after`.
    pub fn since(&self, unit: &str, after: u64) -> Vec<LogLine> {
        self.rings
            .get(unit)
            .map(|r| r.iter().filter(|l| l.seq > after).cloned().collect())
            .unwrap_or_default()
    }

    /// Drops the ring and file handle of a unit that no longer exists.
    pub fn forget(&mut self, unit: &str) {
        self.rings.remove(unit);
        self.files.remove(unit);
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
