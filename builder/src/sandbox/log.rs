//! Build-log capture: raw bytes for a log file, complete lines for progress display.

use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Receives a builder's output (stdout and stderr, interleaved as written).
pub trait LogSink {
    /// Raw bytes as read, for a log file. The default discards them.
    fn raw(&mut self, _data: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// One complete line without its newline (a final unterminated line is also
    /// delivered). Invalid UTF-8 is replaced, so this is for display only.
    fn line(&mut self, line: &str);
}

/// Discards everything.
pub struct NullLog;

impl LogSink for NullLog {
    fn line(&mut self, _line: &str) {}
}

/// Writes the raw log to a file and hands each line to a callback.
pub struct FileLog<F: FnMut(&str)> {
    file: Option<BufWriter<File>>,
    on_line: F,
}

impl<F: FnMut(&str)> FileLog<F> {
    /// `file` may be `None` to only forward lines.
    pub fn new(file: Option<File>, on_line: F) -> Self {
        FileLog {
            file: file.map(BufWriter::new),
            on_line,
        }
    }
}

impl<F: FnMut(&str)> LogSink for FileLog<F> {
    fn raw(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.file {
            // Flushed per chunk so that the file is readable while the build runs.
            Some(f) => f.write_all(data).and_then(|()| f.flush()),
            None => Ok(()),
        }
    }
    fn line(&mut self, line: &str) {
        (self.on_line)(line)
    }
}

/// Collects lines in memory (tests, error messages).
#[derive(Default, Debug, Clone)]
pub struct MemoryLog {
    /// Every complete line received so far.
    pub lines: Vec<String>,
}

impl LogSink for MemoryLog {
    fn line(&mut self, line: &str) {
        self.lines.push(line.to_owned());
    }
}

/// Longest line kept before it is delivered in pieces (a builder printing
/// megabytes without a newline must not make us buffer them all).
const MAX_LINE: usize = 64 * 1024;

/// Splits a byte stream into lines for a [`LogSink`].
#[derive(Default)]
pub(crate) struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn feed(&mut self, mut data: &[u8], sink: &mut dyn LogSink) {
        while let Some(nl) = memchr(b'\n', data) {
            self.partial.extend_from_slice(&data[..nl]);
            emit(&mut self.partial, sink);
            data = &data[nl + 1..];
        }
        self.partial.extend_from_slice(data);
        if self.partial.len() >= MAX_LINE {
            emit(&mut self.partial, sink);
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut dyn LogSink) {
        if !self.partial.is_empty() {
            emit(&mut self.partial, sink);
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn emit(buf: &mut Vec<u8>, sink: &mut dyn LogSink) {
    let line = buf.strip_suffix(b"\r").unwrap_or(buf);
    sink.line(&String::from_utf8_lossy(line));
    buf.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        let mut log = MemoryLog::default();
        s.feed(b"ab", &mut log);
        s.feed(b"c\r\nd\n\ne", &mut log);
        assert_eq!(log.lines, ["abc", "d", ""]);
        s.finish(&mut log);
        assert_eq!(log.lines, ["abc", "d", "", "e"]);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut s = LineSplitter::default();
        let mut log = MemoryLog::default();
        s.feed(&vec![b'x'; MAX_LINE + 10], &mut log);
        assert_eq!(log.lines.len(), 1);
        assert_eq!(log.lines[0].len(), MAX_LINE + 10);
    }
}
