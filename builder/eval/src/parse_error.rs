//! Syntax errors worded as Nix's bison parser words them (`unexpected '=', expecting ';'`),
//! so a user (or a script grepping the message) sees what Nix would print.
//!
//! rnix reports its own token kinds and a recovery-driven "wanted" list; both are translated
//! to Nix's token names. rnix also accepts a few forms Nix's grammar refuses (a lambda, `if`,
//! `with`, `assert` or `let` as an operand without parentheses, e.g. `map x: x list`); those
//! are found by walking the tree and reported at the token where Nix's parser stops.

use rnix::{Root, SyntaxKind, SyntaxKind::*, SyntaxNode};
use rowan::{TextSize, TokenAtOffset};

/// The tree of `src` as Nix's grammar takes it, or its first syntax error as Nix words
/// it: message (without `error: `) and byte offset.
pub(crate) fn checked_tree(src: &str) -> Result<SyntaxNode, (String, u32)> {
    match crate::parse::parse(src) {
        Ok(parsed) => {
            let root = SyntaxNode::new_root(parsed.tree);
            // What rnix parses and Nix's grammar still refuses: the parser saw a form
            // that may be one, and the walk below says where.
            match parsed.suspect {
                true => match error_in(&root, &[], src, true) {
                    Some(error) => Err(error),
                    None => Ok(root),
                },
                false => Ok(root),
            }
        }
        // Nesting too deep for Nix is not given to rnix, which recurses on it, nor a
        // long chain, which it takes quadratic time over.
        Err(refused) if refused.too_deep || refused.long_chain => Err(refusal(&refused)),
        // rnix's parse words the error, unless it saw none as early: there Nix's
        // grammar is the stricter one, and the refusal is worded where it was found.
        Err(refused) => {
            let ours = refusal(&refused);
            match first_error(&Root::parse(src), src) {
                // At the end of the input rnix says where, as Nix does (after the last
                // token), and Nix's wanted list, if any, is ours.
                Some((theirs, at)) if refused.found.is_none() && theirs.starts_with(EOF_ERROR) => {
                    match theirs == EOF_ERROR || refused.formals {
                        true => Err((ours.0, at)),
                        false => Err((theirs, at)),
                    }
                }
                // A path the lexer refused is worded here alone; rnix knows nothing of
                // Nix's reading of `{}` as formals.
                Some(theirs)
                    if theirs.1 < ours.1
                        || (theirs.1 == ours.1 && !refused.formals)
                        || refused.bad_path() =>
                {
                    Err(theirs)
                }
                _ => Err(ours),
            }
        }
    }
}

/// The syntax error at the end of the input, without what was wanted there.
const EOF_ERROR: &str = "syntax error, unexpected end of file";

/// The first syntax error of a parse: message (without `error: `) and byte offset.
pub(crate) fn first_error(parse: &rnix::Parse<Root>, src: &str) -> Option<(String, u32)> {
    tree_error(&parse.syntax(), parse.errors(), src)
}

/// The first syntax error in rnix's tree `root`, given rnix's `errors` for it.
pub(crate) fn tree_error(
    root: &SyntaxNode,
    errors: &[rnix::ParseError],
    src: &str,
) -> Option<(String, u32)> {
    error_in(root, errors, src, false)
}

/// `tree_error`, told whether the tree is known to hold a form Nix's grammar may
/// refuse (`parse::Parsed::suspect`), so the green tree need not be walked for one.
fn error_in(
    root: &SyntaxNode,
    errors: &[rnix::ParseError],
    src: &str,
    suspect: bool,
) -> Option<(String, u32)> {
    let parsed = match errors.first() {
        Some(e) => Some(translate(e, root, src)),
        None if suspect || green_violation(root.green(), root.kind()) => grammar_violation(root),
        None => None,
    };
    // Nix's lexer refuses a path token when its parser asks for it: a syntax error
    // before that token comes first.
    match (bad_path(root), parsed) {
        (Some((_, token_start)), Some(parsed)) if parsed.1 < token_start => Some(parsed),
        (Some((lexed, _)), _) => Some(lexed),
        (None, parsed) => parsed,
    }
}

/// A path Nix's lexer does not take, and where its token starts: one ending in `/`
/// ("path has a trailing slash", reported where the path ends), or a search path with
/// one (`<a/>` is no search path to Nix, so its `<` is an unexpected operator).
///
/// Every file loaded is checked, so this walks the green tree, which makes no cursor
/// node per token as `descendants_with_tokens` does (a sixth of parsing's cost).
fn bad_path(root: &SyntaxNode) -> Option<((String, u32), u32)> {
    let mut walk = TokenWalk {
        offset: 0,
        prev: None,
    };
    walk.node(root.green())
}

/// Document-order state of `bad_path`'s walk: where the next token starts and the
/// kind of the one before it.
struct TokenWalk {
    offset: u32,
    prev: Option<SyntaxKind>,
}

impl TokenWalk {
    fn node(&mut self, node: &rowan::GreenNodeData) -> Option<((String, u32), u32)> {
        for child in node.children() {
            let found = match child {
                rowan::NodeOrToken::Node(n) => self.node(n),
                rowan::NodeOrToken::Token(t) => self.token(t),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn token(&mut self, t: &rowan::GreenTokenData) -> Option<((String, u32), u32)> {
        use rowan::Language;
        let kind = rnix::NixLanguage::kind_from_raw(t.kind());
        let text = t.text();
        let start = self.offset;
        let end = start + u32::from(t.text_len());
        let after_interpolation = self.prev == Some(TOKEN_INTERPOL_END);
        self.offset = end;
        self.prev = Some(kind);
        match kind {
            // rnix makes such a path (or its last piece after an interpolation)
            // one error token.
            TOKEN_ERROR
                if text.ends_with('/')
                    && !text.contains("//")
                    && (text.len() > 1 || after_interpolation) =>
            {
                Some((("path has a trailing slash".to_string(), end), start))
            }
            TOKEN_PATH_SEARCH if text.ends_with("/>") => {
                Some((("syntax error, unexpected '<'".to_string(), start), start))
            }
            _ => None,
        }
    }
}

fn translate(e: &rnix::ParseError, root: &SyntaxNode, src: &str) -> (String, u32) {
    use rnix::ParseError as P;
    // Nix's lexer gives end of file the location of the last thing it read: a token, a
    // comment or a run of white space.
    let trimmed = src.trim_end_matches([' ', '\t', '\r', '\n']).len();
    let eof = if trimmed < src.len() {
        trimmed as u32
    } else {
        root.last_token()
            .map(|t| u32::from(t.text_range().start()))
            .unwrap_or(src.len() as u32)
    };
    match e {
        P::Unexpected(r) | P::UnexpectedExtra(r) => {
            let (name, at) = token_at(root, r.start()).unwrap_or(("end of file".into(), eof));
            let expecting = if matches!(e, P::UnexpectedExtra(_)) {
                " expecting end of file"
            } else {
                ""
            };
            let sep = if expecting.is_empty() { "" } else { "," };
            (
                format!("syntax error, unexpected {name}{sep}{expecting}"),
                at,
            )
        }
        P::UnexpectedWanted(got, r, wanted) => {
            let start = u32::from(r.start());
            if *got == TOKEN_ERROR && wanted.contains(&TOKEN_STRING_END) {
                // An unterminated string: the lexer's error token runs to the end.
                return unterminated_string(root, start, eof);
            }
            let text = &src[usize::from(r.start())..usize::from(r.end()).min(src.len())];
            let name = token_name(*got, text);
            (
                with_expecting(format!("syntax error, unexpected {name}"), wanted),
                start,
            )
        }
        P::UnexpectedEOFWanted(wanted) => {
            if wanted.contains(&TOKEN_STRING_END) {
                return unterminated_string(root, eof, eof);
            }
            (
                with_expecting("syntax error, unexpected end of file".into(), wanted),
                eof,
            )
        }
        P::UnexpectedDoubleBind(r) => ("syntax error, unexpected '@'".into(), u32::from(r.start())),
        P::UnexpectedEOF => ("syntax error, unexpected end of file".into(), eof),
        P::DuplicatedArgs(r, name) => (
            format!("duplicate formal function argument '{name}'"),
            u32::from(r.start()),
        ),
        P::RecursionLimitExceeded => ("syntax error, nesting too deep".into(), 0),
        _ => ("syntax error".into(), 0),
    }
}

/// A refusal by `parse` where rnix saw no error (Nix's grammar is stricter there).
pub(crate) fn refusal(r: &crate::parse::Refusal) -> (String, u32) {
    if r.too_deep {
        return ("memory exhausted".into(), r.offset);
    }
    let name = match &r.found {
        // An unterminated comment is a `/` and a `*` to Nix's lexer: the `/` an
        // operator, the `*` what its parser stops at.
        Some((TOKEN_ERROR, text)) if text.starts_with("/*") => {
            return ("syntax error, unexpected '*'".into(), r.offset + 1);
        }
        // A character no token starts with. (An unterminated string is refused inside
        // the string, where rnix's error, worded by `translate`, comes first.)
        Some((TOKEN_ERROR, _)) => "invalid token".into(),
        Some((kind, text)) => token_name(*kind, text),
        None => "end of file".into(),
    };
    let msg = format!("syntax error, unexpected {name}");
    let msg = if r.extra {
        format!("{msg}, expecting end of file")
    } else {
        with_expecting(msg, r.wanted)
    };
    (msg, r.offset)
}

/// Adds bison's `, expecting …` where the wanted set is one Nix's parser reports; bison lists
/// at most four expected tokens, so a place where any expression may start gets none.
fn with_expecting(msg: String, wanted: &[SyntaxKind]) -> String {
    let list = match wanted {
        [TOKEN_SEMICOLON] => "';'",
        [TOKEN_ASSIGN] => "'.' or '='",
        [TOKEN_ELSE] => "ELSE",
        [TOKEN_THEN] => "THEN",
        [TOKEN_COLON] => "':'",
        [TOKEN_COLON, TOKEN_AT] => "':' or '@'",
        [TOKEN_L_BRACE] => "'{'",
        [TOKEN_IDENT] => "ID",
        [TOKEN_R_PAREN] => "')'",
        [TOKEN_R_BRACK] => "']'",
        [TOKEN_R_BRACE] => "'}'",
        [TOKEN_IN] => "IN",
        [TOKEN_INTERPOL_END] => "'}'",
        w if w.contains(&TOKEN_IDENT) && w.contains(&TOKEN_OR) && w.len() <= 3 => {
            "ID or OR_KW or DOLLAR_CURLY or '\"'"
        }
        _ => return msg,
    };
    format!("{msg}, expecting {list}")
}

/// Nix reports an unterminated string at the start of its content, expecting its end.
fn unterminated_string(root: &SyntaxNode, at: u32, eof: u32) -> (String, u32) {
    let opener = root
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| t.kind() == TOKEN_STRING_START && u32::from(t.text_range().end()) <= at)
        .last();
    match opener {
        Some(t) if t.text() == "''" => (
            "syntax error, unexpected end of file, expecting IND_STR or DOLLAR_CURLY or \
             IND_STRING_CLOSE"
                .into(),
            u32::from(t.text_range().end()),
        ),
        Some(t) => (
            "syntax error, unexpected end of file, expecting '\"'".into(),
            u32::from(t.text_range().end()),
        ),
        None => ("syntax error, unexpected end of file".into(), eof),
    }
}

/// The Nix name of the token starting at `offset`, and its offset.
fn token_at(root: &SyntaxNode, offset: TextSize) -> Option<(String, u32)> {
    let tok = match root.token_at_offset(offset) {
        TokenAtOffset::None => return None,
        TokenAtOffset::Single(t) => t,
        TokenAtOffset::Between(_, t) => t,
    };
    let tok = if matches!(tok.kind(), TOKEN_WHITESPACE | TOKEN_COMMENT) {
        let mut next = tok.next_token();
        while let Some(t) = &next {
            if !matches!(t.kind(), TOKEN_WHITESPACE | TOKEN_COMMENT) {
                break;
            }
            next = t.next_token();
        }
        next?
    } else {
        tok
    };
    Some((
        token_name(tok.kind(), tok.text()),
        u32::from(tok.text_range().start()),
    ))
}

/// Nix 2.8's name for a token (its lexer.l / parser.y): single characters quoted, the rest by
/// their bison token names.
fn token_name(kind: SyntaxKind, text: &str) -> String {
    let named = match kind {
        TOKEN_IDENT => "ID",
        TOKEN_INTEGER => "INT",
        TOKEN_FLOAT => "FLOAT",
        TOKEN_PATH_ABS | TOKEN_PATH_REL => "PATH",
        TOKEN_PATH_HOME => "HPATH",
        TOKEN_PATH_SEARCH => "SPATH",
        TOKEN_URI => "URI",
        TOKEN_IF => "IF",
        TOKEN_THEN => "THEN",
        TOKEN_ELSE => "ELSE",
        TOKEN_ASSERT => "ASSERT",
        TOKEN_WITH => "WITH",
        TOKEN_LET => "LET",
        TOKEN_IN => "IN",
        TOKEN_REC => "REC",
        TOKEN_INHERIT => "INHERIT",
        TOKEN_OR => "OR_KW",
        TOKEN_EQUAL => "EQ",
        TOKEN_NOT_EQUAL => "NEQ",
        TOKEN_LESS_OR_EQ => "LEQ",
        TOKEN_MORE_OR_EQ => "GEQ",
        TOKEN_AND_AND => "AND",
        TOKEN_OR_OR => "OR",
        TOKEN_IMPLICATION => "IMPL",
        TOKEN_UPDATE => "UPDATE",
        TOKEN_CONCAT => "CONCAT",
        TOKEN_ELLIPSIS => "ELLIPSIS",
        TOKEN_INTERPOL_START => "DOLLAR_CURLY",
        TOKEN_STRING_CONTENT => "STR",
        TOKEN_STRING_START | TOKEN_STRING_END if text == "''" => {
            if kind == TOKEN_STRING_START {
                "IND_STRING_OPEN"
            } else {
                "IND_STRING_CLOSE"
            }
        }
        TOKEN_PIPE_LEFT | TOKEN_PIPE_RIGHT => "pipe operator",
        TOKEN_ERROR => "end of file",
        _ => "",
    };
    if !named.is_empty() {
        return named.to_string();
    }
    match text.chars().next() {
        Some(c) => format!("'{c}'"),
        None => "end of file".into(),
    }
}

/// Forms rnix accepts and Nix's grammar does not: a lambda, `if`, `with`, `assert` or `let`
/// directly as an operand, an argument, a list element or a selected-from value.
/// A walk with a cursor node per node: only for a tree the parser or `green_violation`
/// found such a form in.
fn grammar_violation(root: &SyntaxNode) -> Option<(String, u32)> {
    for node in root.descendants() {
        let Some(parent) = node.parent() else {
            continue;
        };
        let first = parent.first_child().as_ref() == Some(&node);
        if refused_operand(parent.kind(), first, node.kind()) {
            return Some(violation_at(&node, &parent));
        }
    }
    None
}

/// Whether a `child` node under a `parent` node is a form Nix's grammar refuses there;
/// `first` is whether it is the parent's first child node.
pub(crate) fn refused_operand(parent: SyntaxKind, first: bool, child: SyntaxKind) -> bool {
    // The function of an application is parsed as one; only the argument can be it.
    let operand = takes_operands(parent) && (parent != NODE_APPLY || !first);
    operand
        && matches!(
            child,
            NODE_LAMBDA | NODE_IF_ELSE | NODE_WITH | NODE_ASSERT | NODE_LET_IN
        )
}

/// Whether a node of kind `parent` has operands `refused_operand` looks at (most
/// nodes do not, and the parser asks this for every node it finishes).
#[inline]
pub(crate) fn takes_operands(parent: SyntaxKind) -> bool {
    matches!(
        parent,
        NODE_BIN_OP | NODE_UNARY_OP | NODE_HAS_ATTR | NODE_SELECT | NODE_LIST | NODE_APPLY
    )
}

/// Whether `grammar_violation`'s walk would find something under `node`
/// (whose kind is `kind`), decided on the green tree alone.
fn green_violation(node: &rowan::GreenNodeData, kind: SyntaxKind) -> bool {
    use rowan::Language;
    let mut first = true;
    for child in node.children() {
        let rowan::NodeOrToken::Node(n) = child else {
            continue;
        };
        let child_kind = rnix::NixLanguage::kind_from_raw(n.kind());
        if refused_operand(kind, first, child_kind) || green_violation(n, child_kind) {
            return true;
        }
        first = false;
    }
    false
}

fn violation_at(node: &SyntaxNode, parent: &SyntaxNode) -> (String, u32) {
    let first = node
        .first_token()
        .map(|t| (t.kind(), u32::from(t.text_range().start())));
    // A lambda's parameter is read as an operand first; Nix stops at its `:`.
    let (name, at) = match (node.kind(), first) {
        (NODE_LAMBDA, _) => {
            let colon = node
                .children_with_tokens()
                .filter_map(|e| e.into_token())
                .find(|t| t.kind() == TOKEN_COLON);
            match colon {
                Some(c) => ("':'".to_string(), u32::from(c.text_range().start())),
                None => ("':'".to_string(), u32::from(node.text_range().start())),
            }
        }
        (_, Some((kind, at))) => (token_name(kind, ""), at),
        (_, None) => (
            "end of file".to_string(),
            u32::from(node.text_range().start()),
        ),
    };
    // Right after an operator or inside a list bison is in a state where any operand may
    // follow, so it lists nothing; otherwise the operand before was reduced and what the
    // enclosing construct expects next is listed.
    let directly_after_operator = node.kind() != NODE_LAMBDA
        && matches!(parent.kind(), NODE_BIN_OP | NODE_UNARY_OP | NODE_HAS_ATTR);
    let in_list = parent.kind() == NODE_LIST
        || parent
            .ancestors()
            .take_while(|a| matches!(a.kind(), NODE_APPLY | NODE_BIN_OP | NODE_UNARY_OP))
            .last()
            .and_then(|a| a.parent())
            .is_some_and(|p| p.kind() == NODE_LIST);
    let expecting = if directly_after_operator || in_list {
        None
    } else {
        enclosing_expectation(parent)
    };
    match expecting {
        Some(e) => (
            format!("syntax error, unexpected {name}, expecting {e}"),
            at,
        ),
        None => (format!("syntax error, unexpected {name}"), at),
    }
}

/// What the construct around an expression expects after it, as bison names it.
fn enclosing_expectation(node: &SyntaxNode) -> Option<&'static str> {
    let mut child = node.clone();
    for anc in node.ancestors().skip(1) {
        let is_first_child = anc.first_child().as_ref() == Some(&child);
        match anc.kind() {
            NODE_APPLY | NODE_BIN_OP | NODE_UNARY_OP | NODE_LAMBDA => {}
            NODE_ROOT => return Some("end of file"),
            NODE_ATTRPATH_VALUE => return Some("';'"),
            NODE_PAREN => return Some("')'"),
            NODE_INTERPOL => return Some("'}'"),
            NODE_LIST => return None,
            NODE_IF_ELSE => {
                let pos = anc.children().position(|c| c == child);
                match pos {
                    Some(0) => return Some("THEN"),
                    Some(1) => return Some("ELSE"),
                    _ => {}
                }
            }
            NODE_WITH | NODE_ASSERT if is_first_child => return Some("';'"),
            NODE_WITH | NODE_ASSERT | NODE_LET_IN => {}
            _ => return None,
        }
        child = anc;
    }
    Some("end of file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(src: &str) -> (String, u32) {
        first_error(&Root::parse(src), src).expect("a syntax error")
    }

    #[test]
    fn tokens_are_named_as_nix_names_them() {
        assert_eq!(
            msg("{ a = 1 = 2; }"),
            ("syntax error, unexpected '=', expecting ';'".into(), 8)
        );
        assert_eq!(
            msg("let a = 1 in a").0,
            "syntax error, unexpected IN, expecting ';'"
        );
        assert_eq!(
            msg("if true then 1").0,
            "syntax error, unexpected end of file, expecting ELSE"
        );
    }

    #[test]
    fn lambdas_as_arguments_are_refused_as_nix_refuses_them() {
        assert_eq!(
            msg("map x: x [ 1 ]"),
            (
                "syntax error, unexpected ':', expecting end of file".into(),
                5
            )
        );
        assert_eq!(
            msg("{ a = f x: x; }").0,
            "syntax error, unexpected ':', expecting ';'"
        );
        assert_eq!(msg("[ x: x ]").0, "syntax error, unexpected ':'");
        assert_eq!(
            msg("1 + if true then 1 else 2").0,
            "syntax error, unexpected IF"
        );
        assert!(first_error(&Root::parse("x: y: x"), "x: y: x").is_none());
        assert!(first_error(&Root::parse("f (x: x)"), "f (x: x)").is_none());
    }
}
