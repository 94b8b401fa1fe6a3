//! Nix source parsed into the rowan tree rnix builds, without rnix's parser.
//!
//! The compiler reads rnix's typed tree, so this builds exactly that tree (same nodes, same
//! places for white space and comments) for every input rnix parses without error, and
//! refuses the input at the first token rnix would report an error at, or earlier where
//! Nix's grammar refuses what rnix accepts (below). Refused input goes through rnix's
//! parser, whose errors `parse_error` words as Nix does.
//!
//! Why not rnix's parser: it builds through rowan's `GreenNodeBuilder`, whose node cache
//! hashes every token and small node to share equal ones (a sixth of parsing, and
//! quadratic on a long left-nested chain), and peeks through a queue. Here a node is made
//! from its children directly and tokens of fixed text are shared by kind.
//!
//! Stricter than rnix, as Nix is: a parenthesis must close with `)` (rnix takes any
//! token there, so `(1 ]` was 1), and a path followed by white space and then `${` is
//! not an interpolated path (rnix made one with the white space inside, which the
//! compiler could not read).

use rnix::{SyntaxKind, SyntaxKind::*};

mod lex;
use rowan::{GreenNode, GreenToken, NodeOrToken};

/// Where and why the input was refused.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// Byte offset of the token refused (the end of the input at end of file).
    pub offset: u32,
    /// The token refused, or `None` at end of file.
    pub found: Option<(SyntaxKind, String)>,
    /// What the grammar wanted there, when that is a short list.
    pub wanted: &'static [SyntaxKind],
    /// Refused because the expression ended before it.
    pub extra: bool,
    /// Refused because the nesting ran deeper than Nix's parser stack (`MAX_OPEN`).
    pub too_deep: bool,
}

impl Refusal {
    /// Whether the token refused is a path rnix's lexer made an error of (one ending
    /// in `/`).
    pub fn bad_path(&self) -> bool {
        matches!(&self.found, Some((TOKEN_ERROR, text)) if text.ends_with('/'))
    }
}

/// Nesting depth at which rnix stops (`RecursionLimitExceeded`).
const MAX_DEPTH: u32 = 512;

/// Nodes open at once beyond which the input is refused as Nix 2.8 refuses it ("memory
/// exhausted": bison's stack holds 10 000 states, at least one per node open here). rnix
/// limits only nested expressions; nested lists, negations or `++` ran deep enough to
/// overflow the compiler's stack.
const MAX_OPEN: usize = 10_000;

/// rnix's tree for an input, and whether it holds a form rnix takes and Nix's grammar
/// does not (an operand `parse_error::refused_operand` names, or a search path ending
/// in `/`): only then need `parse_error` look for one.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub tree: GreenNode,
    pub suspect: bool,
}

/// Parses `src` into rnix's tree (a `NODE_ROOT`).
pub(crate) fn parse(src: &str) -> Result<Parsed, Refusal> {
    let toks = lex::tokenize(src);
    let mut p = Parser {
        toks: &toks,
        next: 0,
        pending: 0,
        children: Vec::with_capacity(64),
        parents: Vec::with_capacity(32),
        depth: 0,
        fixed: vec![None; KINDS + 2 * MAX_INDENT],
        failed: None,
        suspect: false,
        too_deep: false,
    };
    p.parents.push((NODE_ROOT, 0));
    let done = p.expr().and_then(|()| {
        p.eat_trivia();
        match p.peek() {
            None => Ok(()),
            Some(_) => Err(p.refuse_extra()),
        }
    });
    match done {
        Ok(()) => {
            p.finish();
            match p.children.pop() {
                Some(NodeOrToken::Node(tree)) => Ok(Parsed {
                    tree,
                    suspect: p.suspect,
                }),
                _ => unreachable!("the root is the only child left"),
            }
        }
        Err(Fail) => {
            let (at, wanted, extra) = p.failed.take().unwrap_or((toks.len(), &[], false));
            let offset: usize = toks[..at].iter().map(|(_, s)| s.len()).sum();
            Err(Refusal {
                offset: offset as u32,
                found: toks.get(at).map(|&(k, s)| (k, s.to_string())),
                wanted,
                extra,
                too_deep: p.too_deep,
            })
        }
    }
}

/// The parse stopped; `Parser::failed` says where.
struct Fail;
type R<T = ()> = Result<T, Fail>;

/// Children collected so far, as rowan's builder keeps them.
type Child = NodeOrToken<GreenNode, GreenToken>;

/// Token kinds whose text is always the same: one token of each is shared.
fn fixed_text(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        TOKEN_ASSERT
            | TOKEN_ELSE
            | TOKEN_IF
            | TOKEN_IN
            | TOKEN_INHERIT
            | TOKEN_LET
            | TOKEN_OR
            | TOKEN_REC
            | TOKEN_THEN
            | TOKEN_WITH
            | TOKEN_L_BRACE
            | TOKEN_R_BRACE
            | TOKEN_L_BRACK
            | TOKEN_R_BRACK
            | TOKEN_ASSIGN
            | TOKEN_AT
            | TOKEN_COLON
            | TOKEN_COMMA
            | TOKEN_DOT
            | TOKEN_ELLIPSIS
            | TOKEN_QUESTION
            | TOKEN_SEMICOLON
            | TOKEN_L_PAREN
            | TOKEN_R_PAREN
            | TOKEN_CONCAT
            | TOKEN_INVERT
            | TOKEN_UPDATE
            | TOKEN_ADD
            | TOKEN_SUB
            | TOKEN_MUL
            | TOKEN_DIV
            | TOKEN_AND_AND
            | TOKEN_EQUAL
            | TOKEN_IMPLICATION
            | TOKEN_LESS
            | TOKEN_LESS_OR_EQ
            | TOKEN_MORE
            | TOKEN_MORE_OR_EQ
            | TOKEN_NOT_EQUAL
            | TOKEN_OR_OR
            | TOKEN_PIPE_RIGHT
            | TOKEN_PIPE_LEFT
            | TOKEN_INTERPOL_START
            | TOKEN_INTERPOL_END
    )
}

/// More than the number of rnix's syntax kinds.
const KINDS: usize = 128;

/// The longest run of spaces shared as one token.
const MAX_INDENT: usize = 64;

/// White space that is spaces, or a newline and spaces (nearly all of it), numbered
/// for sharing one token of each.
fn indentation(text: &str) -> Option<usize> {
    let (newline, spaces) = match text.strip_prefix('\n') {
        Some(rest) => (1, rest),
        None => (0, text),
    };
    (spaces.len() < MAX_INDENT && spaces.bytes().all(|b| b == b' '))
        .then(|| newline * MAX_INDENT + spaces.len())
}

fn raw(kind: SyntaxKind) -> rowan::SyntaxKind {
    rowan::SyntaxKind(kind as u16)
}

fn is_trivia(kind: SyntaxKind) -> bool {
    matches!(kind, TOKEN_COMMENT | TOKEN_WHITESPACE)
}

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

struct Parser<'t, 's> {
    toks: &'t [(SyntaxKind, &'s str)],
    /// The first token neither in the tree nor skipped as trivia.
    next: usize,
    /// The first trivia token skipped but not yet in the tree: `pending..next` are
    /// trivia, placed in whichever node is open when the next node or token starts,
    /// as rnix places them.
    pending: usize,
    children: Vec<Child>,
    /// Open nodes: kind and index of their first child.
    parents: Vec<(SyntaxKind, usize)>,
    depth: u32,
    /// The shared token of each kind `fixed_text` names, by kind, then of each
    /// `indentation`.
    fixed: Vec<Option<GreenToken>>,
    /// Token index, wanted kinds, and whether the expression had ended.
    failed: Option<(usize, &'static [SyntaxKind], bool)>,
    /// See `Parsed::suspect`.
    suspect: bool,
    /// See `Refusal::too_deep`.
    too_deep: bool,
}

impl Parser<'_, '_> {
    fn peek(&mut self) -> Option<SyntaxKind> {
        while let Some(&(k, _)) = self.toks.get(self.next) {
            if !is_trivia(k) {
                return Some(k);
            }
            self.next += 1;
        }
        None
    }

    /// The `n`th token after the next one, trivia skipped.
    fn peek_nth(&mut self, n: usize) -> Option<SyntaxKind> {
        self.peek()?;
        self.toks[self.next..]
            .iter()
            .map(|&(k, _)| k)
            .filter(|&k| !is_trivia(k))
            .nth(n)
    }

    /// The next token, trivia not skipped.
    fn peek_raw(&self) -> Option<SyntaxKind> {
        self.toks.get(self.next).map(|&(k, _)| k)
    }

    fn refuse(&mut self, wanted: &'static [SyntaxKind]) -> Fail {
        self.peek();
        self.failed = Some((self.next, wanted, false));
        Fail
    }

    fn refuse_extra(&mut self) -> Fail {
        self.failed = Some((self.next, &[], true));
        Fail
    }

    fn token(&mut self, kind: SyntaxKind, text: &str) {
        let shared = if fixed_text(kind) {
            Some(kind as usize)
        } else if kind == TOKEN_WHITESPACE {
            indentation(text).map(|i| KINDS + i)
        } else {
            None
        };
        let t = match shared {
            Some(i) => self.fixed[i]
                .get_or_insert_with(|| GreenToken::new(raw(kind), text))
                .clone(),
            None => GreenToken::new(raw(kind), text),
        };
        self.children.push(NodeOrToken::Token(t));
    }

    fn eat_trivia(&mut self) {
        self.peek();
        for i in self.pending..self.next {
            let (k, s) = self.toks[i];
            self.token(k, s);
        }
        self.pending = self.next;
    }

    fn start(&mut self, kind: SyntaxKind) {
        self.eat_trivia();
        self.parents.push((kind, self.children.len()));
    }

    fn checkpoint(&mut self) -> usize {
        self.eat_trivia();
        self.children.len()
    }

    fn start_at(&mut self, checkpoint: usize, kind: SyntaxKind) {
        self.parents.push((kind, checkpoint));
    }

    fn finish(&mut self) {
        let (kind, first) = self.parents.pop().expect("a node is open");
        if !self.suspect {
            let nodes = self.children[first..].iter().filter_map(|c| c.as_node());
            self.suspect = nodes.enumerate().any(|(i, n)| {
                let child = <rnix::NixLanguage as rowan::Language>::kind_from_raw(n.kind());
                crate::parse_error::refused_operand(kind, i == 0, child)
            });
        }
        let node = GreenNode::new(raw(kind), self.children.drain(first..));
        self.children.push(NodeOrToken::Node(node));
    }

    /// Takes the next token into the tree, as `kind`.
    fn bump_as(&mut self, kind: SyntaxKind) -> R {
        if self.peek().is_none() {
            return Err(self.refuse(&[]));
        }
        // Every node opened is followed by a token taken, so nesting is bounded here.
        if self.parents.len() > MAX_OPEN {
            self.too_deep = true;
            return Err(self.refuse(&[]));
        }
        self.eat_trivia();
        let (_, s) = self.toks[self.next];
        self.token(kind, s);
        self.next += 1;
        self.pending = self.next;
        Ok(())
    }

    fn bump(&mut self) -> R {
        match self.peek() {
            Some(k) => self.bump_as(k),
            None => Err(self.refuse(&[])),
        }
    }

    /// The next token's kind, which must be one of `allowed`.
    fn expect_any(&mut self, allowed: &'static [SyntaxKind]) -> R<SyntaxKind> {
        match self.peek() {
            Some(k) if allowed.contains(&k) => Ok(k),
            _ => Err(self.refuse(allowed)),
        }
    }

    /// Takes the next token, which must be `wanted`'s one kind.
    fn expect(&mut self, wanted: &'static [SyntaxKind; 1]) -> R {
        self.expect_any(wanted)?;
        self.bump()
    }

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
        if self.peek().is_none_or(|t| t == TOKEN_R_BRACE) {
            self.bump()?;
        } else {
            loop {
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
        if self.peek() == Some(TOKEN_AT) {
            if bound {
                return Err(self.refuse(&[]));
            }
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
                            None => return Err(self.refuse(&[TOKEN_SEMICOLON])),
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
                    self.start(NODE_ATTR_SET);
                    self.bump()?;
                    self.bindings(TOKEN_R_BRACE)?;
                    self.finish();
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

    fn expr(&mut self) -> R {
        if self.depth >= MAX_DEPTH {
            return Err(self.refuse(&[]));
        }
        self.depth += 1;
        match self.peek() {
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

#[cfg(test)]
mod tests;
