//! Nix source cut into rnix's tokens: the same kinds and the same boundaries as
//! `rnix::tokenize` for any input (checked in `tests.rs`), so that the parser's tree is
//! rnix's and inputs it refuses are worded from rnix's own parse.
//!
//! rnix's tokenizer decides whether a token starts a path by scanning the whole run
//! of path characters ahead of it, at every token: `1+1+…+1` is one such run, so that
//! was quadratic (and `<a<a<a…` for a search path's). Here the run's end is remembered
//! while the lexer is inside it. It also works on bytes, decoding a character only
//! where one is not ASCII.

use rnix::{SyntaxKind, SyntaxKind::*};

/// What the tokens being read are inside of, innermost last (rnix's contexts).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    StringBody { multiline: bool },
    StringEnd,
    Interpol { brackets: u32 },
    InterpolStart,
    Path(SyntaxKind),
}

/// How rnix classifies a token from the characters ahead of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ahead {
    PathRel,
    PathAbs,
    PathHome,
    PathSearch,
    Uri,
}

fn path_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'_' | b'.' | b'+' | b'-')
}

fn uri_char(c: u8) -> bool {
    matches!(
        c,
        b'%' | b'?' | b':' | b'@' | b'&' | b'=' | b'$' | b',' | b'!' | b'~' | b'*' | b'\''
    ) || path_char(c)
}

/// The tokens of `src`, as `rnix::tokenize` gives them.
pub(crate) fn tokenize(src: &str) -> Vec<(SyntaxKind, &str)> {
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        at: 0,
        ctx: Vec::new(),
        runs: [(0, 0, None); 2],
    };
    let mut tokens = Vec::with_capacity(src.len() / 3);
    loop {
        let start = lexer.at;
        match lexer.token() {
            Some(kind) => tokens.push((kind, &src[start..lexer.at])),
            None => return tokens,
        }
    }
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    at: usize,
    ctx: Vec<Context>,
    /// The last run of path characters scanned, and the last of a search path's
    /// (`run_from`): where the scan started, where the run ends, its last underscore.
    runs: [(usize, usize, Option<usize>); 2],
}

impl Lexer<'_> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn peek(&self) -> Option<u8> {
        self.byte(self.at)
    }

    /// The character at `at`.
    fn char_at(&self, at: usize) -> Option<char> {
        match self.byte(at)? {
            b if b < 0x80 => Some(b as char),
            _ => self.src[at..].chars().next(),
        }
    }

    /// Takes one character.
    fn bump(&mut self) -> Option<char> {
        let c = self.char_at(self.at)?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, s: &str) -> bool {
        let found = self.bytes[self.at..].starts_with(s.as_bytes());
        if found {
            self.at += s.len();
        }
        found
    }

    /// Takes ASCII bytes while `f` holds; returns how many.
    fn eat_while(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.at;
        while self.peek().is_some_and(&f) {
            self.at += 1;
        }
        self.at - start
    }

    fn eat_whitespace(&mut self) -> usize {
        let start = self.at;
        while let Some(c) = self.char_at(self.at) {
            if !c.is_whitespace() {
                break;
            }
            self.at += c.len_utf8();
        }
        self.at - start
    }

    fn pop(&mut self) {
        self.ctx.pop();
    }

    fn token(&mut self) -> Option<SyntaxKind> {
        let start = self.at;
        loop {
            match self.ctx.last().copied() {
                Some(Context::InterpolStart) => {
                    self.pop();
                    self.ctx.push(Context::Interpol { brackets: 0 });
                    let opened = self.eat("${");
                    debug_assert!(opened, "an interpolation start is only pushed before `${{`");
                    return Some(TOKEN_INTERPOL_START);
                }
                Some(Context::Path(kind)) => {
                    if kind == TOKEN_PATH_SEARCH {
                        if self.peek().is_some_and(path_char) {
                            return Some(self.path_since(start, kind));
                        }
                        self.pop();
                    } else if self.eat("${") {
                        self.ctx.push(Context::Interpol { brackets: 0 });
                        return Some(TOKEN_INTERPOL_START);
                    } else if self.peek().is_some_and(path_char) {
                        return Some(self.path_since(start, kind));
                    } else {
                        self.pop();
                    }
                }
                Some(Context::StringBody { multiline }) => {
                    let kind = self.string(multiline);
                    if self.at == start {
                        continue;
                    }
                    return Some(kind);
                }
                Some(Context::StringEnd) => {
                    self.pop();
                    let closed = match self.peek() {
                        Some(b'"') => {
                            self.at += 1;
                            true
                        }
                        Some(b'\'') => {
                            self.at += 1;
                            self.peek() == Some(b'\'') && {
                                self.at += 1;
                                true
                            }
                        }
                        _ => false,
                    };
                    return Some(if closed {
                        TOKEN_STRING_END
                    } else {
                        TOKEN_ERROR
                    });
                }
                _ => {}
            }
            break;
        }

        if self.eat_whitespace() > 0 {
            return Some(TOKEN_WHITESPACE);
        }
        if self.peek() == Some(b'#') {
            self.eat_while(|c| c != b'\n');
            return Some(TOKEN_COMMENT);
        }
        if self.eat("/*") {
            loop {
                self.eat_while(|c| c != b'*');
                self.bump();
                match self.peek() {
                    None => return Some(TOKEN_ERROR),
                    Some(b'/') => {
                        self.at += 1;
                        return Some(TOKEN_COMMENT);
                    }
                    _ => {}
                }
            }
        }
        if self.eat("...") {
            return Some(TOKEN_ELLIPSIS);
        }

        let ahead = self.ahead();
        let c = self.bump()?;
        if c == '/' && self.peek() == Some(b'/') {
            self.at += 1;
            return Some(TOKEN_UPDATE);
        }
        if c == '~'
            || matches!(ahead, Some(Ahead::PathAbs | Ahead::PathRel))
            || (c == '/' && self.peek().is_some_and(path_char))
        {
            let kind = if c == '~' {
                if self.bump() != Some('/') {
                    return Some(TOKEN_ERROR);
                }
                TOKEN_PATH_HOME
            } else if c == '/' {
                TOKEN_PATH_ABS
            } else {
                TOKEN_PATH_REL
            };
            self.ctx.push(Context::Path(kind));
            return Some(self.path_since(start, kind));
        }
        Some(self.operator_or_word(c, ahead, start))
    }

    /// What rnix decides from the characters ahead of a token: whether it starts a
    /// path (and which), a URI, or neither.
    fn ahead(&mut self) -> Option<Ahead> {
        match self.peek() {
            Some(b'/') => {
                return match self.byte(self.at + 1) {
                    Some(b'/') => None,
                    Some(b'$') if self.byte(self.at + 2) == Some(b'{') => Some(Ahead::PathAbs),
                    Some(c) if path_char(c) && c != b'*' => Some(Ahead::PathAbs),
                    _ => None,
                };
            }
            Some(b'~') if self.byte(self.at + 1) == Some(b'/') => return Some(Ahead::PathHome),
            _ => {}
        }
        // A search path's run takes `<` and `/` too.
        let (end, underscore) = self.run_from(self.at, self.peek() == Some(b'<'));
        let next = self.char_at(end);
        let after = next.and_then(|c| self.char_at(end + c.len_utf8()));
        match (next, after) {
            (Some('/'), Some('/' | '*')) => None,
            (Some('/'), Some(c)) if !c.is_whitespace() => Some(Ahead::PathRel),
            (Some('>'), _) => Some(Ahead::PathSearch),
            (Some(':'), Some(c)) if c.is_ascii() && uri_char(c as u8) && !underscore => {
                Some(Ahead::Uri)
            }
            _ => None,
        }
    }

    /// The end of the run from `at` of path characters other than `/` (with `angle`:
    /// of `<` and path characters), and whether it holds an underscore. A run is
    /// scanned once however many tokens start in it.
    fn run_from(&mut self, at: usize, angle: bool) -> (usize, bool) {
        let in_run = |c: u8| match angle {
            true => c == b'<' || path_char(c),
            false => c != b'/' && path_char(c),
        };
        let (from, end, last_underscore) = self.runs[angle as usize];
        if from <= at && at < end {
            return (end, last_underscore.is_some_and(|u| u >= at));
        }
        let mut end = at;
        let mut last_underscore = None;
        while let Some(c) = self.byte(end).filter(|&c| in_run(c)) {
            if c == b'_' {
                last_underscore = Some(end);
            }
            end += 1;
        }
        self.runs[angle as usize] = (at, end, last_underscore);
        (end, last_underscore.is_some())
    }

    /// The rest of a path token begun at `start` (rnix's `check_path_since`).
    fn path_since(&mut self, start: usize, kind: SyntaxKind) -> SyntaxKind {
        self.eat_while(path_char);
        let text = &self.src[start..self.at];
        if self.bytes[self.at..].starts_with(b"${") {
            self.ctx.push(Context::InterpolStart);
        } else if text.ends_with('/') || text.contains("//") {
            return TOKEN_ERROR;
        } else {
            self.pop();
        }
        kind
    }

    /// A string's content up to its end, an interpolation or the end of input.
    fn string(&mut self, multiline: bool) -> SyntaxKind {
        loop {
            let start = self.at;
            match self.bump() {
                None => {
                    self.pop();
                    return TOKEN_ERROR;
                }
                Some('"') if !multiline => {
                    self.at = start;
                    self.pop();
                    self.ctx.push(Context::StringEnd);
                    return TOKEN_STRING_CONTENT;
                }
                Some('\\') if !multiline => {
                    if self.bump().is_none() {
                        return TOKEN_ERROR;
                    }
                }
                Some('\'') if multiline => match self.peek() {
                    None => return TOKEN_ERROR,
                    Some(b'\'') => {
                        self.at += 1;
                        match self.peek() {
                            Some(b'\'' | b'$') => self.at += 1,
                            Some(b'\\') => {
                                self.at += 1;
                                if self.bump().is_none() {
                                    return TOKEN_ERROR;
                                }
                            }
                            _ => {
                                self.at = start;
                                self.pop();
                                self.ctx.push(Context::StringEnd);
                                return TOKEN_STRING_CONTENT;
                            }
                        }
                    }
                    Some(_) => {}
                },
                Some('$') => match self.peek() {
                    Some(b'$') => self.at += 1,
                    Some(b'{') => {
                        self.at = start;
                        self.ctx.push(Context::InterpolStart);
                        return TOKEN_STRING_CONTENT;
                    }
                    _ => {}
                },
                Some(_) => {}
            }
        }
    }

    /// If the next byte is `b`, takes it.
    fn then(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.at += 1;
        }
        found
    }

    /// A token that is not a path: `c` is its first character, already taken.
    fn operator_or_word(&mut self, c: char, ahead: Option<Ahead>, start: usize) -> SyntaxKind {
        match c {
            '=' if self.then(b'=') => TOKEN_EQUAL,
            '!' if self.then(b'=') => TOKEN_NOT_EQUAL,
            '!' => TOKEN_INVERT,
            '{' => {
                if let Some(Context::Interpol { brackets }) = self.ctx.last_mut() {
                    *brackets += 1;
                }
                TOKEN_L_BRACE
            }
            '}' => {
                if let Some(Context::Interpol { brackets }) = self.ctx.last_mut() {
                    if *brackets == 0 {
                        self.pop();
                        return TOKEN_INTERPOL_END;
                    }
                    *brackets -= 1;
                }
                TOKEN_R_BRACE
            }
            '[' => TOKEN_L_BRACK,
            ']' => TOKEN_R_BRACK,
            '@' => TOKEN_AT,
            ':' => TOKEN_COLON,
            ',' => TOKEN_COMMA,
            '.' if self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                self.eat_while(|c| c.is_ascii_digit());
                self.exponent()
            }
            '.' => TOKEN_DOT,
            '=' => TOKEN_ASSIGN,
            '?' => TOKEN_QUESTION,
            ';' => TOKEN_SEMICOLON,
            '(' => TOKEN_L_PAREN,
            ')' => TOKEN_R_PAREN,
            '+' if self.then(b'+') => TOKEN_CONCAT,
            '-' if self.then(b'>') => TOKEN_IMPLICATION,
            '/' if self.then(b'/') => TOKEN_UPDATE,
            '+' => TOKEN_ADD,
            '-' => TOKEN_SUB,
            '*' => TOKEN_MUL,
            '/' => TOKEN_DIV,
            '<' if self.then(b'|') => TOKEN_PIPE_LEFT,
            '<' if ahead == Some(Ahead::PathSearch) => {
                if self.eat_while(path_char) == 0 {
                    TOKEN_LESS
                } else if self.bump() != Some('>') {
                    TOKEN_ERROR
                } else {
                    TOKEN_PATH_SEARCH
                }
            }
            '&' if self.then(b'&') => TOKEN_AND_AND,
            '|' if self.then(b'>') => TOKEN_PIPE_RIGHT,
            '|' if self.then(b'|') => TOKEN_OR_OR,
            '<' if self.then(b'=') => TOKEN_LESS_OR_EQ,
            '<' => TOKEN_LESS,
            '>' if self.then(b'=') => TOKEN_MORE_OR_EQ,
            '>' => TOKEN_MORE,
            '$' if self.then(b'{') => {
                self.ctx.push(Context::Interpol { brackets: 0 });
                TOKEN_INTERPOL_START
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                let uri = ahead == Some(Ahead::Uri);
                self.eat_while(|c| {
                    matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'\'')
                        || (uri && uri_char(c))
                });
                if uri {
                    return TOKEN_URI;
                }
                match &self.src[start..self.at] {
                    "assert" => TOKEN_ASSERT,
                    "else" => TOKEN_ELSE,
                    "if" => TOKEN_IF,
                    "in" => TOKEN_IN,
                    "inherit" => TOKEN_INHERIT,
                    "let" => TOKEN_LET,
                    "or" => TOKEN_OR,
                    "rec" => TOKEN_REC,
                    "then" => TOKEN_THEN,
                    "with" => TOKEN_WITH,
                    _ => TOKEN_IDENT,
                }
            }
            '"' => {
                self.ctx.push(Context::StringBody { multiline: false });
                TOKEN_STRING_START
            }
            '\'' if self.then(b'\'') => {
                self.ctx.push(Context::StringBody { multiline: true });
                TOKEN_STRING_START
            }
            '0'..='9' => {
                // A leading zero not followed at once by `.` makes an integer of all
                // the digits, whatever comes after them (rnix's reading of Nix's lexer).
                let leading_zero = c == '0' && self.peek() != Some(b'.');
                self.eat_while(|c| c.is_ascii_digit());
                if leading_zero || self.peek() != Some(b'.') {
                    return TOKEN_INTEGER;
                }
                self.at += 1;
                self.eat_while(|c| c.is_ascii_digit());
                self.exponent()
            }
            _ => TOKEN_ERROR,
        }
    }

    /// An optional exponent after a float's digits.
    fn exponent(&mut self) -> SyntaxKind {
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'-' | b'+')) {
                self.at += 1;
            }
            if self.eat_while(|c| c.is_ascii_digit()) == 0 {
                return TOKEN_ERROR;
            }
        }
        TOKEN_FLOAT
    }
}
