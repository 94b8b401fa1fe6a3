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

mod grammar;
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
    /// Refused right after what may be a lambda's formals with no `@name` yet (`{a}`,
    /// `{...}`, or `{}` where an expression starts, which may be a set too): Nix's
    /// GLR parser tries both readings of `{}`, and when both fail it reports the
    /// formals' "expecting ':' or '@'", which rnix never says.
    pub formals: bool,
    /// The input holds a chain of more than `LONG_CHAIN` operations nested to the left
    /// (`f a b c …`, `1 + 1 + …`), which rnix's parser takes quadratic time over (a stray
    /// `]` after an application of 100 000 arguments took 27 s to word): the refusal is
    /// worded without it.
    pub long_chain: bool,
}

impl Refusal {
    /// Whether the token refused is a path rnix's lexer made an error of (one ending
    /// in `/`).
    pub fn bad_path(&self) -> bool {
        matches!(&self.found, Some((TOKEN_ERROR, text)) if text.ends_with('/'))
    }
}

/// Operations nested to the left from one place beyond which rnix is not asked to
/// word a refusal (`Refusal::long_chain`): at 4 096 it takes 0.05 s.
const LONG_CHAIN: u32 = 4096;

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
        expr_start: 0,
        formals_end: None,
        formals: false,
        chain: (usize::MAX, 0),
        long_chain: false,
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
                formals: p.formals,
                long_chain: p.long_chain,
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
    /// The index of the first token of the innermost expression begun.
    expr_start: usize,
    /// The index of the token after the `}` of the last formals with no `@name`, or of
    /// an empty set where an expression starts (see `Refusal::formals`).
    formals_end: Option<usize>,
    /// See `Refusal::formals`.
    formals: bool,
    /// The checkpoint the last node nested to the left started at, and how many
    /// nodes in a row started there.
    chain: (usize, u32),
    /// See `Refusal::long_chain`.
    long_chain: bool,
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
        self.after_formals();
        Fail
    }

    fn refuse_extra(&mut self) -> Fail {
        self.failed = Some((self.next, &[], true));
        self.after_formals();
        Fail
    }

    /// Words the refusal as Nix does when the token refused is the first after formals
    /// (see `Refusal::formals`).
    fn after_formals(&mut self) {
        let Some(end) = self.formals_end else {
            return;
        };
        let between = self.toks.get(end..self.next);
        if between.is_some_and(|b| b.iter().all(|&(k, _)| is_trivia(k))) {
            self.formals = true;
            self.failed = Some((self.next, &[TOKEN_COLON, TOKEN_AT], false));
        }
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
        match self.chain {
            (at, n) if at == checkpoint => {
                self.chain.1 = n + 1;
                self.long_chain |= n + 1 > LONG_CHAIN;
            }
            _ => self.chain = (checkpoint, 1),
        }
    }

    fn finish(&mut self) {
        let (kind, first) = self.parents.pop().expect("a node is open");
        if !self.suspect && crate::parse_error::takes_operands(kind) {
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
}

#[cfg(test)]
mod tests;
