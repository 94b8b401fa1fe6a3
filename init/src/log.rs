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

    /// Lines of every unit (and of b8g-init itself) with a sequence number above
    /// `after`, in the order they were written: what `journalctl` shows.
    pub fn all_since(&self, after: u64) -> Vec<LogLine> {
        let mut all: Vec<LogLine> = self
            .rings
            .values()
            .flat_map(|r| r.iter().filter(|l| l.seq > after).cloned())
            .collect();
        all.sort_by_key(|l| l.seq);
        all
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
}
