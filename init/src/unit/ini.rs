//! The INI dialect of systemd unit files: sections, `Key=Value` lines, comments and
//! backslash continuations. This layer keeps every assignment with its file and line
//! so later stages can report `file:line`; it knows nothing about what keys mean.

use std::path::{Path, PathBuf};

/// One `Key=Value` assignment, in the order it appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    /// Index into [`RawUnit::sources`].
    pub source: usize,
    /// 1-based line of the key (the first line of a continued value).
    pub line: usize,
}

/// All assignments of a unit: its fragment followed by its drop-ins, in application order.
#[derive(Debug, Clone, Default)]
pub struct RawUnit {
    pub sources: Vec<PathBuf>,
    pub entries: Vec<Entry>,
}

/// A syntax error at a precise place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SyntaxError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl RawUnit {
    /// Parses `text` (read from `path`) and appends its assignments. Syntax errors are
    /// returned but parsing goes on, so one bad line does not hide the rest of the file.
    pub fn add_source(&mut self, path: &Path, text: &str) -> Vec<SyntaxError> {
        let source = self.sources.len();
        self.sources.push(path.to_path_buf());
        let file = path.display().to_string();
        let mut errors = Vec::new();
        let mut section: Option<String> = None;
        let mut lines = text.lines().enumerate();
        while let Some((idx, raw)) = lines.next() {
            let lineno = idx + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    if name.is_empty() || name.contains(['[', ']']) {
                        errors.push(err(
                            &file,
                            lineno,
                            format!("invalid section header {line:?}"),
                        ));
                        section = None;
                    } else {
                        section = Some(name.to_string());
                    }
                } else {
                    errors.push(err(
                        &file,
                        lineno,
                        format!("invalid section header {line:?}"),
                    ));
                    section = None;
                }
                continue;
            }
            // Join continuation lines: a trailing backslash is replaced by a space;
            // comment lines inside a continuation are skipped, as systemd does.
            let mut joined = String::new();
            let mut cur = line.to_string();
            loop {
                match cur.strip_suffix('\\') {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                        let next = loop {
                            match lines.next() {
                                Some((_, l)) => {
                                    let t = l.trim();
                                    if t.starts_with('#') || t.starts_with(';') {
                                        continue;
                                    }
                                    break Some(t.to_string());
                                }
                                None => break None,
                            }
                        };
                        match next {
                            Some(n) => cur = n,
                            None => break,
                        }
                    }
                    None => {
                        joined.push_str(&cur);
                        break;
                    }
                }
            }
            let Some((key, value)) = joined.split_once('=') else {
                errors.push(err(
                    &file,
                    lineno,
                    format!("expected Key=Value, found {:?}", truncate(&joined)),
                ));
                continue;
            };
            let key = key.trim();
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                errors.push(err(
                    &file,
                    lineno,
                    format!("invalid key {:?}", truncate(key)),
                ));
                continue;
            }
            let Some(sec) = &section else {
                errors.push(err(
                    &file,
                    lineno,
                    format!("assignment {key}= outside of any section"),
                ));
                continue;
            };
            self.entries.push(Entry {
                section: sec.clone(),
                key: key.to_string(),
                value: value.trim().to_string(),
                source,
                line: lineno,
            });
        }
        errors
    }

    /// Where an entry came from, as `file:line`.
    pub fn location(&self, e: &Entry) -> String {
        format!(
            "{}:{}",
            self.sources
                .get(e.source)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            e.line
        )
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn err(file: &str, line: usize, message: String) -> SyntaxError {
    SyntaxError {
        file: file.to_string(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_comments_and_continuations() {
        let mut raw = RawUnit::default();
        let errs = raw.add_source(
            Path::new("a.service"),
            "# c\n[Unit]\nDescription = hello world \n; x\n[Service]\nExecStart=/bin/echo a \\\n# inner\n  b\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(raw.entries.len(), 2);
        assert_eq!(raw.entries[0].value, "hello world");
        assert_eq!(raw.entries[1].value, "/bin/echo a  b");
        assert_eq!(raw.entries[1].line, 6);
    }

    #[test]
    fn reports_errors_with_lines_and_continues() {
        let mut raw = RawUnit::default();
        let errs = raw.add_source(
            Path::new("b.service"),
            "Foo=1\n[Unit]\nbogus line\n[Bad\nDescription=x\n",
        );
        assert_eq!(errs.len(), 4);
        assert_eq!(errs[0].line, 1);
        assert_eq!(
            errs[1].to_string(),
            "b.service:3: expected Key=Value, found \"bogus line\""
        );
        assert_eq!(errs[2].line, 4);
        assert_eq!(errs[3].line, 5);
        // After a bad header, assignments have no section and are rejected too.
        assert!(raw.entries.is_empty());
    }
}
