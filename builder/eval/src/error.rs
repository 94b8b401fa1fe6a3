//! Evaluation errors and source positions, rendered the way Nix renders them:
//! `error: <msg>`, then `at file:line:col:` with the source line and a caret,
//! then the trace of enclosing operations.

mod render;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// A source position: file id (index into the source table) and byte offset.
/// `file == u32::MAX` means "no position".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: u32,
    pub offset: u32,
}

impl Pos {
    pub const NONE: Pos = Pos {
        file: u32::MAX,
        offset: 0,
    };
    /// No position, and none to be lent by a call site either: Nix reports these
    /// errors without one (a type error of `!` or `//`, a failed comparison, an
    /// application a builtin made). It resolves to nothing.
    pub const NOWHERE: Pos = Pos {
        file: u32::MAX - 1,
        offset: 0,
    };
    pub fn is_none(&self) -> bool {
        self.file == u32::MAX
    }
}

/// A loaded source text. `name` is the path, or `«string»` for `-E`.
pub struct Source {
    pub name: String,
    pub text: Rc<str>,
}

thread_local! {
    static SOURCES: RefCell<Vec<Source>> = const { RefCell::new(Vec::new()) };
}

/// Registers a source text and returns its file id.
pub fn add_source(name: String, text: Rc<str>) -> u32 {
    SOURCES.with(|s| {
        let mut s = s.borrow_mut();
        s.push(Source { name, text });
        (s.len() - 1) as u32
    })
}

/// Resolved position: file name, 1-based line and column, and the line's text.
/// The text of the source `pos` is in.
pub fn source_text(pos: Pos) -> Option<Rc<str>> {
    SOURCES.with(|s| {
        s.borrow()
            .get(pos.file as usize)
            .map(|src| src.text.clone())
    })
}

/// Where `pos` is, as Nix shows it in values (`unsafeGetAttrPos`,
/// `__curPos`, `--xml`): an expression given as text is named by the text
/// itself, as Nix 2.8 does.
pub fn nix_pos(pos: Pos) -> Option<LineCol> {
    let mut lc = resolve(pos)?;
    if lc.file == "«string»" {
        if let Some(t) = source_text(pos) {
            lc.file = t.to_string();
        }
    }
    Some(lc)
}

pub struct LineCol {
    pub file: String,
    pub line: usize,
    /// In bytes, as Nix's lexer counts.
    pub col: usize,
}

/// The source lines Nix 2.8 shows around a position (`getCodeLines`): the one
/// before, the position's own and the one after, each if Nix can read it.
pub(crate) struct CodeLines {
    pub prev: Option<String>,
    pub this: String,
    pub next: Option<String>,
}

/// `file:line:col`, as Nix 2.8 writes a position inside a message ("already
/// defined at …"): an expression given as text is `(string)` there.
pub fn pos_text(pos: Pos) -> String {
    match resolve(pos) {
        Some(lc) if lc.file == "«string»" => format!("(string):{}:{}", lc.line, lc.col),
        Some(lc) => format!("{}:{}:{}", lc.file, lc.line, lc.col),
        None => "undefined position".to_string(),
    }
}

pub fn resolve(pos: Pos) -> Option<LineCol> {
    if pos.is_none() {
        return None;
    }
    SOURCES.with(|s| {
        let s = s.borrow();
        let src = s.get(pos.file as usize)?;
        let off = (pos.offset as usize).min(src.text.len());
        let before = &src.text[..off];
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        Some(LineCol {
            file: src.name.clone(),
            line: before.matches('\n').count() + 1,
            // Nix's lexer counts columns in bytes.
            col: off - line_start + 1,
        })
    })
}

/// Whether `pos` is in the source named `name`.
pub(crate) fn in_source(pos: Pos, name: &str) -> bool {
    SOURCES.with(|s| {
        s.borrow()
            .get(pos.file as usize)
            .is_some_and(|src| src.name == name)
    })
}

/// The lines around `pos` as Nix 2.8 reads them. A file is read line by line up to
/// each newline, so a last line without one cannot be shown: if it is the position's
/// own line, nothing is. An expression given as text is split with `getline`, for
/// which a final newline starts one more, empty, line.
pub(crate) fn code_lines(pos: Pos, line: usize) -> Option<CodeLines> {
    SOURCES.with(|s| {
        let s = s.borrow();
        let src = s.get(pos.file as usize)?;
        let is_text = src.name.starts_with('«');
        // Nix reads a file's lines from the file: one that is not there shows none.
        if !is_text && !std::path::Path::new(&src.name).is_file() {
            return None;
        }
        let mut lines: Vec<&str> = src.text.split('\n').collect();
        if !is_text {
            // The part after the last newline is no line to Nix.
            lines.pop();
        }
        let at = |n: usize| {
            n.checked_sub(1)
                .and_then(|i| lines.get(i))
                .map(|l| l.to_string())
        };
        Some(CodeLines {
            prev: at(line - 1),
            this: at(line)?,
            next: at(line + 1),
        })
    })
}

/// How many trace frames an error keeps (Nix keeps all; a deep recursion would make
/// thousands).
pub(crate) const MAX_TRACE: usize = 64;

/// What went wrong, by kind; the corpus compares kinds with Nix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `throw` (catchable by tryEval).
    Throw,
    /// `abort`.
    Abort,
    /// A failed `assert` (catchable by tryEval).
    Assertion,
    /// Type errors, missing attributes, undefined variables and the like.
    Eval,
    /// `infinite recursion encountered`.
    InfiniteRecursion,
    /// Nesting deeper than the evaluator allows.
    StackOverflow,
    /// Parse errors.
    Parse,
    /// Reading files, the store.
    Io,
    /// Fetched content that does not have its declared hash (Nix exits
    /// with status 102 for it).
    HashMismatch,
    /// Stopped from outside ([`crate::Evaluator::interrupt`]): its result was not wanted.
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub msg: String,
    pub pos: Pos,
    /// Enclosing operations, innermost first.
    pub trace: Vec<(Pos, String)>,
    /// Names close to a missing one, best first ("Did you mean …?").
    pub suggestions: Vec<String>,
    /// Raised while matching a function's argument: that call adds no frames.
    pub in_arguments: bool,
}

pub type EvalResult<T> = Result<T, Box<EvalError>>;

impl EvalError {
    pub fn new(kind: ErrorKind, msg: impl Into<String>, pos: Pos) -> Box<EvalError> {
        Box::new(EvalError {
            kind,
            msg: msg.into(),
            pos,
            trace: Vec::new(),
            suggestions: Vec::new(),
            in_arguments: false,
        })
    }

    /// Adds Nix's suggestions for `missing` among `names`: at most five within an edit
    /// distance of two, nearest first (`Suggestions::bestMatches(…).trim()`).
    pub fn suggest<'a>(
        mut self: Box<Self>,
        missing: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Box<EvalError> {
        let mut near: Vec<(usize, &str)> = names
            .into_iter()
            .map(|n| (levenshtein(missing, n), n))
            .filter(|(d, _)| *d <= 2)
            .collect();
        near.sort();
        near.dedup();
        self.suggestions = near
            .into_iter()
            .take(5)
            .map(|(_, n)| n.to_string())
            .collect();
        self
    }

    /// Whether Nix would tell the user that `--show-trace` shows more: Nix records the
    /// frames of function calls only under `--show-trace`, so only the other frames count.
    pub fn has_trace_to_show(&self) -> bool {
        self.kind != ErrorKind::StackOverflow
            && self.trace.iter().any(|(_, what)| {
                !(what == "from call site"
                    || what == "while evaluating anonymous lambda"
                    || what.starts_with("while evaluating '"))
            })
    }

    /// The position Nix shows for the error: a `throw` or `abort` has none, nor has
    /// a failed system call (Nix's `SysError`), and neither has a stack overflow (Nix 2.8
    /// prints that line from its signal handler and exits, with no position and no trace).
    fn shown_pos(&self) -> Pos {
        match self.kind {
            ErrorKind::Throw | ErrorKind::Abort | ErrorKind::StackOverflow | ErrorKind::Io => {
                Pos::NONE
            }
            _ => self.pos,
        }
    }
    /// The message and its position without the trace, as Nix prints an
    /// error without `--show-trace`.
    pub fn head(&self) -> String {
        render::render(self, false)
    }

    /// Adds a trace frame ("… while …" at `pos`), unless the trace is full.
    pub fn add_frame(&mut self, pos: Pos, what: impl Into<String>) {
        if self.trace.len() < MAX_TRACE {
            self.trace.push((pos, what.into()));
        }
    }

    /// Whether `builtins.tryEval` catches it.
    pub fn catchable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throw | ErrorKind::Assertion)
    }
}

/// Shorthand for a type or semantic error at a position.
pub fn err<T>(msg: impl Into<String>, pos: Pos) -> EvalResult<T> {
    Err(EvalError::new(ErrorKind::Eval, msg, pos))
}

/// Edit distance (insertions, deletions, substitutions), bytewise as Nix computes it.
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::render(self, true))
    }
}

impl std::error::Error for EvalError {}
