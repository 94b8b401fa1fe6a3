//! The grammar: one function per construct of rnix's parser, each building its nodes
//! with the primitives in `parse.rs` (`start`, `start_at`, `finish`, `bump`, `expect`).

use rnix::{SyntaxKind, SyntaxKind::*};

use super::{Parser, MAX_DEPTH, R};

/// rnix's `is_fn_arg`: a token that starts an argument of an application.
fn starts_argument(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        TOKEN_REC
            | TOKEN_L_BRACE
            | TOKEN_L_BRACK
            | TOKEN_L_PAREN
            | TOKEN_STRING_START
            | TOKEN_IDENT
            | TOKEN_CUR_POS
            | TOKEN_FLOAT
            | TOKEN_INTEGER
            | TOKEN_PATH_ABS
            | TOKEN_PATH_REL
            | TOKEN_PATH_HOME
            | TOKEN_PATH_SEARCH
            | TOKEN_URI
    )
}

/// The operators of one level of precedence, and how they associate.
#[derive(Clone, Copy)]
enum Assoc {
    Left,
    Right,
    None,
}

/// Binary operator levels, loosest first (rnix's, from `<|` down to `++`); below the
/// last come `?`, unary minus and application.
const LEVELS: &[(&[SyntaxKind], Assoc)] = &[
    (&[TOKEN_PIPE_LEFT], Assoc::Right),
    (&[TOKEN_PIPE_RIGHT], Assoc::Left),
    (&[TOKEN_IMPLICATION], Assoc::Right),
    (&[TOKEN_OR_OR], Assoc::Left),
    (&[TOKEN_AND_AND], Assoc::Left),
    (&[TOKEN_EQUAL, TOKEN_NOT_EQUAL], Assoc::None),
    (
        &[TOKEN_LESS, TOKEN_LESS_OR_EQ, TOKEN_MORE, TOKEN_MORE_OR_EQ],
        Assoc::None,
    ),
    (&[TOKEN_UPDATE], Assoc::Right),
    // `!` sits here, between `//` and `+`.
    (&[TOKEN_ADD, TOKEN_SUB], Assoc::Left),
    (&[TOKEN_MUL, TOKEN_DIV], Assoc::Left),
    (&[TOKEN_CONCAT], Assoc::Right),
];
/// The level below which `!` binds.
const INVERT_LEVEL: usize = 8;

impl Parser<'_, '_> {
    fn ident(&mut self) -> R {
        self.expect_any(&[TOKEN_IDENT])?;
        self.start(NODE_IDENT);
        self.bump()?;
        self.finish();
        Ok(())
    }

    fn interpolation(&mut self, kind: SyntaxKind) -> R {
        self.start(kind);
        self.bump()?;
        self.expr()?;
        self.expect(&[TOKEN_INTERPOL_END])?;
        self.finish();
        Ok(())
    }

    fn string(&mut self) -> R {
        self.start(NODE_STRING);
        self.expect(&[TOKEN_STRING_START])?;
        loop {
            const PARTS: &[SyntaxKind] =
                &[TOKEN_STRING_END, TOKEN_STRING_CONTENT, TOKEN_INTERPOL_START];
            match self.expect_any(PARTS)? {
                TOKEN_STRING_CONTENT => self.bump()?,
                TOKEN_INTERPOL_START => self.interpolation(NODE_INTERPOL)?,
                _ => break,
            }
        }
        self.expect(&[TOKEN_STRING_END])?;
        self.finish();
        Ok(())
    }

    fn attr(&mut self) -> R {
        match self.peek() {
            Some(TOKEN_INTERPOL_START) => self.interpolation(NODE_DYNAMIC),
            Some(TOKEN_STRING_START) => self.string(),
            _ => {
                self.expect_any(&[TOKEN_IDENT, TOKEN_OR, TOKEN_CUR_POS])?;
                self.start(NODE_IDENT);
                self.bump_as(TOKEN_IDENT)?;
                self.finish();
                Ok(())
            }
        }
    }

    fn attrpath(&mut self) -> R {
        self.start(NODE_ATTRPATH);
        loop {
            self.attr()?;
            if self.peek() != Some(TOKEN_DOT) {
                break;
            }
            self.bump()?;
        }
        self.finish();
        Ok(())
    }

    /// A pattern's formals after its `{`, and an `@name` after them unless `bound`.
    fn pattern(&mut self, bound: bool) -> R {
        self.formals_end = None;
        if self.peek() == Some(TOKEN_R_BRACE) {
            self.bump()?;
        } else {
            loop {
                // At the end of the input Nix wants the `}` (its empty formals).
                if self.peek().is_none() {
                    return Err(self.refuse(&[TOKEN_R_BRACE]));
                }
                match self.expect_any(&[TOKEN_R_BRACE, TOKEN_ELLIPSIS, TOKEN_IDENT])? {
                    TOKEN_R_BRACE => {
                        self.bump()?;
                        break;
                    }
                    TOKEN_ELLIPSIS => {
                        self.bump()?;
                        self.expect(&[TOKEN_R_BRACE])?;
                        break;
                    }
                    _ => {
                        self.start(NODE_PAT_ENTRY);
                        self.ident()?;
                        if self.peek() == Some(TOKEN_QUESTION) {
                            self.bump()?;
                            self.expr()?;
                        }
                        self.finish();
                        if self.peek() == Some(TOKEN_COMMA) {
                            self.bump()?;
                        } else {
                            self.expect(&[TOKEN_R_BRACE])?;
                            break;
                        }
                    }
                }
            }
        }
        if !bound {
            self.formals_end = Some(self.next);
        }
        if self.peek() == Some(TOKEN_AT) {
            if bound {
                return Err(self.refuse(&[]));
            }
            self.formals_end = None;
            self.start(NODE_PAT_BIND);
            self.bump()?;
            self.ident()?;
            self.finish();
        }
        Ok(())
    }

    /// Bindings up to `until`, which is taken too.
    fn bindings(&mut self, until: SyntaxKind) -> R {
        loop {
            match self.peek() {
                None => break,
                Some(t) if t == until => break,
                Some(TOKEN_INHERIT) => {
                    self.start(NODE_INHERIT);
                    self.bump()?;
                    if self.peek() == Some(TOKEN_L_PAREN) {
                        self.start(NODE_INHERIT_FROM);
                        self.bump()?;
                        self.expr()?;
                        self.expect(&[TOKEN_R_PAREN])?;
                        self.finish();
                    }
                    loop {
                        match self.peek() {
                            Some(TOKEN_SEMICOLON) => break,
                            Some(_) => self.attr()?,
                            // Nix wants another name or `;`, too many to list.
                            None => return Err(self.refuse(&[])),
                        }
                    }
                    self.expect(&[TOKEN_SEMICOLON])?;
                    self.finish();
                }
                Some(_) => {
                    self.start(NODE_ATTRPATH_VALUE);
                    self.attrpath()?;
                    self.expect(&[TOKEN_ASSIGN])?;
                    self.expr()?;
                    self.expect(&[TOKEN_SEMICOLON])?;
                    self.finish();
                }
            }
        }
        self.bump()
    }

    fn path(&mut self, kind: SyntaxKind) -> R {
        self.start(kind);
        self.bump()?;
        if kind == NODE_PATH_SEARCH && self.toks[self.next - 1].1.ends_with("/>") {
            self.suspect = true;
        }
        // Only a `${` right after the path continues it.
        if kind != NODE_PATH_SEARCH && self.peek_raw() == Some(TOKEN_INTERPOL_START) {
            loop {
                match self.peek_raw() {
                    Some(TOKEN_PATH_ABS | TOKEN_PATH_REL | TOKEN_PATH_HOME) => self.bump()?,
                    Some(TOKEN_INTERPOL_START) => self.interpolation(NODE_INTERPOL)?,
                    _ => break,
                }
            }
        }
        self.finish();
        Ok(())
    }

    /// rnix's `parse_simple`: a primary expression and any selection after it; returns
    /// the checkpoint an application or operator around it wraps from.
    fn simple(&mut self) -> R<usize> {
        const STARTS: &[SyntaxKind] = &[
            TOKEN_L_PAREN,
            TOKEN_REC,
            TOKEN_L_BRACE,
            TOKEN_L_BRACK,
            TOKEN_STRING_START,
            TOKEN_IDENT,
        ];
        let Some(peek) = self.peek() else {
            return Err(self.refuse(&[]));
        };
        let cp = self.checkpoint();
        match peek {
            TOKEN_L_PAREN => {
                self.start(NODE_PAREN);
                self.bump()?;
                self.expr()?;
                self.expect(&[TOKEN_R_PAREN])?;
                self.finish();
            }
            TOKEN_REC => {
                self.start(NODE_ATTR_SET);
                self.bump()?;
                self.expect(&[TOKEN_L_BRACE])?;
                self.bindings(TOKEN_R_BRACE)?;
                self.finish();
            }
            TOKEN_L_BRACE => {
                let pattern = matches!(
                    (self.peek_nth(1), self.peek_nth(2)),
                    (
                        Some(TOKEN_IDENT),
                        Some(TOKEN_COMMA | TOKEN_QUESTION | TOKEN_R_BRACE)
                    ) | (Some(TOKEN_ELLIPSIS), Some(TOKEN_R_BRACE))
                        | (Some(TOKEN_R_BRACE), Some(TOKEN_COLON | TOKEN_AT))
                );
                if pattern {
                    self.start(NODE_LAMBDA);
                    self.start(NODE_PATTERN);
                    self.bump()?;
                    self.pattern(false)?;
                    self.finish();
                    self.expect(&[TOKEN_COLON])?;
                    self.expr()?;
                    self.finish();
                } else {
                    // `{}` where an expression starts may be formals too (`Refusal::formals`).
                    let formals =
                        self.next == self.expr_start && self.peek_nth(1) == Some(TOKEN_R_BRACE);
                    self.start(NODE_ATTR_SET);
                    self.bump()?;
                    self.bindings(TOKEN_R_BRACE)?;
                    self.finish();
                    if formals {
                        self.formals_end = Some(self.next);
                    }
                }
            }
            TOKEN_L_BRACK => {
                self.start(NODE_LIST);
                self.bump()?;
                while self.peek().is_some_and(|t| t != TOKEN_R_BRACK) {
                    self.simple()?;
                }
                self.bump()?;
                self.finish();
            }
            TOKEN_STRING_START => self.string()?,
            TOKEN_PATH_ABS => self.path(NODE_PATH_ABS)?,
            TOKEN_PATH_REL => self.path(NODE_PATH_REL)?,
            TOKEN_PATH_HOME => self.path(NODE_PATH_HOME)?,
            TOKEN_PATH_SEARCH => self.path(NODE_PATH_SEARCH)?,
            TOKEN_FLOAT | TOKEN_INTEGER | TOKEN_URI => {
                self.start(NODE_LITERAL);
                self.bump()?;
                self.finish();
            }
            TOKEN_IDENT => match self.peek_nth(1) {
                Some(TOKEN_COLON) => {
                    self.ident()?;
                    self.start_at(cp, NODE_LAMBDA);
                    self.start_at(cp, NODE_IDENT_PARAM);
                    self.finish();
                    self.expect(&[TOKEN_COLON])?;
                    self.expr()?;
                    self.finish();
                }
                Some(TOKEN_AT) => {
                    self.ident()?;
                    self.start_at(cp, NODE_LAMBDA);
                    self.start_at(cp, NODE_PATTERN);
                    self.start_at(cp, NODE_PAT_BIND);
                    self.expect(&[TOKEN_AT])?;
                    self.finish();
                    self.expect(&[TOKEN_L_BRACE])?;
                    self.pattern(true)?;
                    self.finish();
                    self.expect(&[TOKEN_COLON])?;
                    self.expr()?;
                    self.finish();
                }
                _ if self.toks[self.next].1 == "__curPos" => {
                    self.start(NODE_CUR_POS);
                    self.bump_as(TOKEN_CUR_POS)?;
                    self.finish();
                }
                _ => self.ident()?,
            },
            _ => return Err(self.refuse(STARTS)),
        }
        match self.peek() {
            Some(TOKEN_DOT) => {
                self.start_at(cp, NODE_SELECT);
                self.bump()?;
                self.attrpath()?;
                if self.peek() == Some(TOKEN_OR) {
                    self.bump()?;
                    self.simple()?;
                }
                self.finish();
            }
            // `a or` with no selection before it applies `a` to a variable named `or`,
            // as Nix's grammar does.
            Some(TOKEN_OR) => {
                self.start_at(cp, NODE_APPLY);
                self.start(NODE_IDENT);
                self.bump_as(TOKEN_IDENT)?;
                self.finish();
                self.finish();
            }
            _ => {}
        }
        Ok(cp)
    }

    fn application(&mut self) -> R<usize> {
        let cp = self.simple()?;
        while self.peek().is_some_and(starts_argument) {
            self.start_at(cp, NODE_APPLY);
            self.simple()?;
            self.finish();
        }
        Ok(cp)
    }

    /// Prefix operators (`-` or `!`, nested), then what they apply to.
    fn prefixed(&mut self, op: SyntaxKind, inner: impl FnOnce(&mut Self) -> R<usize>) -> R<usize> {
        let mut first = None;
        let mut open = 0;
        while self.peek() == Some(op) {
            let cp = self.checkpoint();
            first.get_or_insert(cp);
            self.start(NODE_UNARY_OP);
            self.bump()?;
            open += 1;
        }
        let cp = inner(self)?;
        for _ in 0..open {
            self.finish();
        }
        Ok(first.unwrap_or(cp))
    }

    fn has_attr(&mut self) -> R<usize> {
        let cp = self.prefixed(TOKEN_SUB, Self::application)?;
        while self.peek() == Some(TOKEN_QUESTION) {
            self.start_at(cp, NODE_HAS_ATTR);
            self.bump()?;
            self.attrpath()?;
            self.finish();
        }
        Ok(cp)
    }

    /// Binary operators from level `level` of `LEVELS` down.
    fn binary(&mut self, level: usize) -> R<usize> {
        if level == LEVELS.len() {
            return self.has_attr();
        }
        if level == INVERT_LEVEL {
            return self.prefixed(TOKEN_INVERT, |p| p.binary_level(level));
        }
        self.binary_level(level)
    }

    fn binary_level(&mut self, level: usize) -> R<usize> {
        let (ops, assoc) = LEVELS[level];
        let cp = self.binary(level + 1)?;
        match assoc {
            Assoc::Left | Assoc::None => {
                while self.peek().is_some_and(|t| ops.contains(&t)) {
                    self.start_at(cp, NODE_BIN_OP);
                    self.bump()?;
                    self.binary(level + 1)?;
                    self.finish();
                    // A second comparison is left to the levels above, which refuse it.
                    if matches!(assoc, Assoc::None) {
                        break;
                    }
                }
            }
            // Each operand after an operator is the start of the next node; all are
            // closed at the end (rnix recurses, with the same tree).
            Assoc::Right => {
                let mut operand = cp;
                let mut open = 0;
                while self.peek().is_some_and(|t| ops.contains(&t)) {
                    self.start_at(operand, NODE_BIN_OP);
                    self.bump()?;
                    open += 1;
                    operand = self.binary(level + 1)?;
                }
                for _ in 0..open {
                    self.finish();
                }
            }
        }
        Ok(cp)
    }

    pub(super) fn expr(&mut self) -> R {
        if self.depth >= MAX_DEPTH {
            return Err(self.refuse(&[]));
        }
        self.depth += 1;
        let first = self.peek();
        self.expr_start = self.next;
        match first {
            Some(TOKEN_LET) => {
                let cp = self.checkpoint();
                self.bump()?;
                if self.peek() == Some(TOKEN_L_BRACE) {
                    self.start_at(cp, NODE_LEGACY_LET);
                    self.bump()?;
                    self.bindings(TOKEN_R_BRACE)?;
                } else {
                    self.start_at(cp, NODE_LET_IN);
                    self.bindings(TOKEN_IN)?;
                    self.expr()?;
                }
                self.finish();
            }
            Some(TOKEN_WITH) => self.keyword(NODE_WITH, &[&[TOKEN_SEMICOLON]])?,
            Some(TOKEN_ASSERT) => self.keyword(NODE_ASSERT, &[&[TOKEN_SEMICOLON]])?,
            Some(TOKEN_IF) => self.keyword(NODE_IF_ELSE, &[&[TOKEN_THEN], &[TOKEN_ELSE]])?,
            _ => {
                self.binary(0)?;
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// `with e; e`, `assert e; e`, `if e then e else e`: a keyword, then expressions
    /// each followed by the next separator, then the last expression.
    fn keyword(&mut self, kind: SyntaxKind, separators: &[&'static [SyntaxKind; 1]]) -> R {
        self.start(kind);
        self.bump()?;
        for sep in separators {
            self.expr()?;
            self.expect(sep)?;
        }
        self.expr()?;
        self.finish();
        Ok(())
    }
}
