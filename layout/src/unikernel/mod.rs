//! The unikernel's contracts: the shim's configuration ([`config`], written by
//! `recipes/unikernel` and the `b8g-unikernel` builder, read by the shim) and
//! what the shim prints for the host ([`console`], read by the runner).
//!
//! Values in the unikernel's line formats (the configuration, and also the
//! builder's `layout` attribute and the image's `manifest`) are escaped so
//! that any string fits on one line: `\\`, newline and tab are written as
//! two-character escapes, as `recipes/unikernel` writes them.

pub mod config;
pub mod console;

use std::fmt;

/// A backslash followed by something other than `n`, `t` or `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError {
    /// What followed the backslash (`None`: the value ended).
    pub found: Option<char>,
}

impl fmt::Display for EscapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad escape \\{}", self.found.unwrap_or(' '))
    }
}

impl std::error::Error for EscapeError {}

/// Undoes [`escape`].
pub fn unescape(v: &str) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            found => return Err(EscapeError { found }),
        }
    }
    Ok(out)
}

/// `\\`, newline and tab as two-character escapes.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        for s in ["", "plain", "a\\b\nc\td", "\\n", "tab\tend\t"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Ok(s));
            assert!(!escape(s).contains(['\n', '\t']));
        }
        assert_eq!(escape("a\\b\nc\td"), "a\\\\b\\nc\\td");
    }

    #[test]
    fn bad_escapes_say_what_followed() {
        assert_eq!(
            unescape("\\x").map_err(|e| e.to_string()),
            Err("bad escape \\x".into())
        );
        assert_eq!(unescape("end\\"), Err(EscapeError { found: None }));
    }
}
