//! The parsed tree as the compiler reads it: rnix's green tree, walked with each
//! node's offset carried along.
//!
//! rnix's typed tree goes through rowan's cursors, which allocate a node for every
//! child visited and free it after; compiling every file read that way was about a
//! sixth of compiling. A green node knows its children and their lengths, which is
//! all the compiler needs. A cursor is made only where rnix's own code is reused:
//! a string's indentation and escapes (`Str::normalized_parts`) and the text
//! of an assertion's condition.

use rnix::SyntaxKind::{self, *};
use rowan::{GreenNodeData, GreenTokenData, Language, NodeOrToken};

/// A piece of a string: text, or an interpolation (`NODE_INTERPOL`).
pub(crate) enum StrPart<'a> {
    Lit(String),
    Interpolation(Node<'a>),
}

/// A node of the tree and where it starts in the file.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    pub green: &'a GreenNodeData,
    pub offset: u32,
}

/// A token of the tree and where it starts in the file.
#[derive(Clone, Copy)]
pub(crate) struct Token<'a> {
    pub green: &'a GreenTokenData,
    pub offset: u32,
}

fn kind(raw: rowan::SyntaxKind) -> SyntaxKind {
    rnix::NixLanguage::kind_from_raw(raw)
}

/// Whether a node of this kind is an expression (what rnix's `ast::Expr` casts).
pub(crate) fn is_expr(k: SyntaxKind) -> bool {
    matches!(
        k,
        NODE_APPLY
            | NODE_ASSERT
            | NODE_ERROR
            | NODE_IF_ELSE
            | NODE_SELECT
            | NODE_STRING
            | NODE_PATH_ABS
            | NODE_PATH_REL
            | NODE_PATH_HOME
            | NODE_PATH_SEARCH
            | NODE_LITERAL
            | NODE_LAMBDA
            | NODE_LEGACY_LET
            | NODE_LET_IN
            | NODE_LIST
            | NODE_BIN_OP
            | NODE_PAREN
            | NODE_ROOT
            | NODE_ATTR_SET
            | NODE_UNARY_OP
            | NODE_IDENT
            | NODE_WITH
            | NODE_HAS_ATTR
            | NODE_CUR_POS
    )
}

impl<'a> Node<'a> {
    pub(crate) fn kind(self) -> SyntaxKind {
        kind(self.green.kind())
    }

    /// Where the node's text ends.
    pub(crate) fn end(self) -> u32 {
        self.offset + u32::from(self.green.text_len())
    }

    /// The children, nodes and tokens, in order.
    pub(crate) fn elems(self) -> impl Iterator<Item = NodeOrToken<Node<'a>, Token<'a>>> {
        let mut at = self.offset;
        self.green.children().map(move |child| {
            let offset = at;
            match child {
                NodeOrToken::Node(green) => {
                    at += u32::from(green.text_len());
                    NodeOrToken::Node(Node { green, offset })
                }
                NodeOrToken::Token(green) => {
                    at += u32::from(green.text_len());
                    NodeOrToken::Token(Token { green, offset })
                }
            }
        })
    }

    pub(crate) fn nodes(self) -> impl Iterator<Item = Node<'a>> {
        self.elems().filter_map(NodeOrToken::into_node)
    }

    pub(crate) fn tokens(self) -> impl Iterator<Item = Token<'a>> {
        self.elems().filter_map(NodeOrToken::into_token)
    }

    /// The children that are expressions.
    pub(crate) fn exprs(self) -> impl Iterator<Item = Node<'a>> {
        self.nodes().filter(|n| is_expr(n.kind()))
    }

    /// The first `N` expression children, found in one pass.
    pub(crate) fn first_exprs<const N: usize>(self) -> [Option<Node<'a>>; N] {
        let mut found = [None; N];
        for (slot, e) in found.iter_mut().zip(self.exprs()) {
            *slot = Some(e);
        }
        found
    }

    pub(crate) fn expr(self) -> Option<Node<'a>> {
        self.exprs().next()
    }

    /// The first child node of this kind.
    pub(crate) fn node(self, k: SyntaxKind) -> Option<Node<'a>> {
        self.nodes().find(|n| n.kind() == k)
    }

    /// The first child token of this kind.
    pub(crate) fn token(self, k: SyntaxKind) -> Option<Token<'a>> {
        self.tokens().find(|t| t.kind() == k)
    }

    /// The node's source text.
    pub(crate) fn text(self) -> String {
        self.green.to_string()
    }

    /// An identifier's name (`NODE_IDENT`): its token's text (`or` used as a name
    /// is a `TOKEN_OR`).
    pub(crate) fn ident_name(self) -> String {
        match self.token(TOKEN_IDENT) {
            Some(t) => t.text().to_string(),
            None => self.text(),
        }
    }

    /// Every node under this one (itself included) whose kind is `k`, as a walk
    /// of the green tree.
    pub(crate) fn any_descendant(self, k: SyntaxKind, mut f: impl FnMut(Node<'a>) -> bool) -> bool {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            if n.kind() == k && f(n) {
                return true;
            }
            stack.extend(n.nodes());
        }
        false
    }

    /// The pieces of a string (`NODE_STRING`): its text, read as Nix reads it, and its
    /// interpolations (`NODE_INTERPOL`), in order; `None` if rnix cannot read it.
    pub(crate) fn string_parts(self) -> Option<Vec<StrPart<'a>>> {
        let mut out = Vec::new();
        // A "…" string is read here (Nix's `unescapeStr`); only an indented one goes
        // through rnix's normalisation, which works out its indentation.
        if self.tokens().next().is_some_and(|t| t.text() == "\"") {
            for part in self.elems() {
                match part {
                    NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_CONTENT => {
                        out.push(StrPart::Lit(unescape(t.text())))
                    }
                    NodeOrToken::Token(_) => {}
                    NodeOrToken::Node(i) => out.push(StrPart::Interpolation(i)),
                }
            }
            return Some(out);
        }
        let mut interpolations = self.nodes().filter(|n| n.kind() == NODE_INTERPOL);
        let cursor = <rnix::ast::Str as rowan::ast::AstNode>::cast(self.cursor())?;
        for p in cursor.normalized_parts() {
            out.push(match p {
                rnix::ast::InterpolPart::Literal(l) => StrPart::Lit(l),
                rnix::ast::InterpolPart::Interpolation(_) => {
                    StrPart::Interpolation(interpolations.next()?)
                }
            });
        }
        Some(out)
    }

    /// The text of a string without interpolation.
    pub(crate) fn static_string(self) -> Option<String> {
        let mut text = String::new();
        for part in self.string_parts()? {
            match part {
                StrPart::Lit(l) => text.push_str(&l),
                StrPart::Interpolation(_) => return None,
            }
        }
        Some(text)
    }

    /// rnix's cursor tree of this node alone (its offsets start at 0 here), for
    /// rnix's own code.
    pub(crate) fn cursor(self) -> rnix::SyntaxNode {
        rnix::SyntaxNode::new_root(self.green.to_owned())
    }
}

impl<'a> Token<'a> {
    pub(crate) fn kind(self) -> SyntaxKind {
        kind(self.green.kind())
    }

    pub(crate) fn text(self) -> &'a str {
        self.green.text()
    }

    pub(crate) fn end(self) -> u32 {
        self.offset + u32::from(self.green.text_len())
    }
}

/// The text of a piece of a "…" string as Nix 2.8's lexer reads it
/// (`unescapeStr`): `\n`, `\r` and `\t` are escapes and a backslash takes any other
/// character as it is; a carriage return, alone or before a line feed, is a line
/// feed (a file saved with CR LF line ends gives the same strings); the text stops
/// at a NUL byte, where Nix's C string ends.
fn unescape(text: &str) -> String {
    // Most strings hold none of these: the text as written.
    if !text.contains(['\\', '\r', '\0']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\0' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('\0') | None => break,
                Some(c) => out.push(c),
            },
            '\r' => {
                out.push('\n');
                chars.next_if_eq(&'\n');
            }
            c => out.push(c),
        }
    }
    out
}
