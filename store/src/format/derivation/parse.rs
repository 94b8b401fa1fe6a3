//! Parsing of `.drv` ATerm text, with errors that name the byte offset.

use super::{Derivation, Output};
use std::collections::{BTreeMap, BTreeSet};

/// Why a `.drv` text could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("derivation ends early at byte {offset}: expected {expected}")]
    Eof {
        offset: usize,
        expected: &'static str,
    },
    #[error("unexpected byte {found:?} at byte {offset} of derivation: expected {expected}")]
    Unexpected {
        offset: usize,
        found: char,
        expected: &'static str,
    },
    #[error("invalid UTF-8 in string at byte {offset} of derivation")]
    Utf8 { offset: usize },
    #[error("duplicate {what} {key:?} at byte {offset} of derivation")]
    Duplicate {
        offset: usize,
        what: &'static str,
        key: String,
    },
    #[error("trailing data at byte {offset} of derivation")]
    Trailing { offset: usize },
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, token: &'static str) -> Result<(), ParseError> {
        for &b in token.as_bytes() {
            match self.peek() {
                None => {
                    return Err(ParseError::Eof {
                        offset: self.pos,
                        expected: token,
                    })
                }
                Some(c) if c == b => self.pos += 1,
                Some(c) => {
                    return Err(ParseError::Unexpected {
                        offset: self.pos,
                        found: c as char,
                        expected: token,
                    })
                }
            }
        }
        Ok(())
    }

    /// Consumes `,` and returns true, or returns false before `close`.
    fn more(&mut self, first: bool, close: u8) -> Result<bool, ParseError> {
        match self.peek() {
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.pos += 1;
                Ok(true)
            }
            _ if first => Ok(true),
            None => Err(ParseError::Eof {
                offset: self.pos,
                expected: "',' or closing bracket",
            }),
            Some(c) => Err(ParseError::Unexpected {
                offset: self.pos,
                found: c as char,
                expected: "',' or closing bracket",
            }),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.expect("\"")?;
        let start = self.pos;
        let mut buf = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ParseError::Eof {
                        offset: self.pos,
                        expected: "closing '\"'",
                    })
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or(ParseError::Eof {
                        offset: self.pos,
                        expected: "escaped character",
                    })?;
                    self.pos += 1;
                    buf.push(match c {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
                Some(c) => {
                    self.pos += 1;
                    buf.push(c);
                }
            }
        }
        String::from_utf8(buf).map_err(|_| ParseError::Utf8 { offset: start })
    }

    fn string_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect("[")?;
        let mut v = Vec::new();
        let mut first = true;
        while self.more(first, b']')? {
            first = false;
            v.push(self.string()?);
        }
        Ok(v)
    }

    fn string_set(&mut self, what: &'static str) -> Result<BTreeSet<String>, ParseError> {
        let offset = self.pos;
        let mut set = BTreeSet::new();
        for s in self.string_list()? {
            if let Some(dup) = set.replace(s) {
                return Err(ParseError::Duplicate {
                    offset,
                    what,
                    key: dup,
                });
            }
        }
        Ok(set)
    }
}

impl Derivation {
    /// Parses the ATerm text of a `.drv` file.
    pub fn parse(text: &[u8]) -> Result<Derivation, ParseError> {
        let mut p = Parser { s: text, pos: 0 };
        let mut drv = Derivation::default();
        p.expect("Derive([")?;
        let mut first = true;
        while p.more(first, b']')? {
            first = false;
            let offset = p.pos;
            p.expect("(")?;
            let name = p.string()?;
            p.expect(",")?;
            let path = p.string()?;
            p.expect(",")?;
            let hash_algo = p.string()?;
            p.expect(",")?;
            let hash = p.string()?;
            p.expect(")")?;
            if drv
                .outputs
                .insert(
                    name.clone(),
                    Output {
                        path,
                        hash_algo,
                        hash,
                    },
                )
                .is_some()
            {
                return Err(ParseError::Duplicate {
                    offset,
                    what: "output",
                    key: name,
                });
            }
        }
        p.expect(",[")?;
        let mut first = true;
        while p.more(first, b']')? {
            first = false;
            let offset = p.pos;
            p.expect("(")?;
            let path = p.string()?;
            p.expect(",")?;
            let outs = p.string_set("input output")?;
            p.expect(")")?;
            if drv.input_drvs.insert(path.clone(), outs).is_some() {
                return Err(ParseError::Duplicate {
                    offset,
                    what: "input derivation",
                    key: path,
                });
            }
        }
        p.expect(",")?;
        drv.input_srcs = p.string_set("input source")?;
        p.expect(",")?;
        drv.system = p.string()?;
        p.expect(",")?;
        drv.builder = p.string()?;
        p.expect(",")?;
        drv.args = p.string_list()?;
        p.expect(",[")?;
        let mut env = BTreeMap::new();
        let mut first = true;
        while p.more(first, b']')? {
            first = false;
            let offset = p.pos;
            p.expect("(")?;
            let k = p.string()?;
            p.expect(",")?;
            let v = p.string()?;
            p.expect(")")?;
            if env.insert(k.clone(), v).is_some() {
                return Err(ParseError::Duplicate {
                    offset,
                    what: "environment variable",
                    key: k,
                });
            }
        }
        drv.env = env;
        p.expect(")")?;
        if p.pos != text.len() {
            return Err(ParseError::Trailing { offset: p.pos });
        }
        Ok(drv)
    }
}
