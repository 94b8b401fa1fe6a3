//! The parser against rnix's: the same tree wherever rnix finds no error, a refusal
//! wherever it finds one, over every Nix file in the repository and mutations of them.

use super::parse;
use rnix::{SyntaxKind::*, SyntaxNode};

/// Where `parse` refuses what rnix takes: a parenthesis closed by another token, or a
/// path with white space before its interpolation.
fn stricter_form(root: &SyntaxNode) -> bool {
    root.descendants().any(|n| match n.kind() {
        NODE_PAREN => n.last_token().is_none_or(|t| t.kind() != TOKEN_R_PAREN),
        NODE_PATH_ABS | NODE_PATH_REL | NODE_PATH_HOME => n
            .children_with_tokens()
            .any(|c| matches!(c.kind(), TOKEN_WHITESPACE | TOKEN_COMMENT)),
        _ => false,
    })
}

/// Checks one input; returns whether rnix took it.
fn check(src: &str) -> bool {
    let theirs: Vec<_> = rnix::tokenize(src).collect();
    assert_eq!(super::lex::tokenize(src), theirs, "tokens of {src:?}");
    let theirs = rnix::Root::parse(src);
    match (parse(src), theirs.errors().is_empty()) {
        (Ok(ours), true) => {
            assert!(
                *ours.tree == *theirs.syntax().green(),
                "a different tree for {src:?}:\n{:#?}\n{:#?}",
                SyntaxNode::new_root(ours.tree),
                theirs.syntax()
            );
            let refused = crate::parse_error::tree_error(&theirs.syntax(), &[], src);
            assert_eq!(ours.suspect, refused.is_some(), "{src:?}: {refused:?}");
            true
        }
        (Ok(_), false) => panic!("took {src:?}, which rnix refuses: {:?}", theirs.errors()),
        (Err(_), false) => false,
        (Err(r), true) => {
            assert!(
                stricter_form(&theirs.syntax()),
                "refused {src:?} at {r:?}, which rnix takes"
            );
            true
        }
    }
}

fn nix_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => nix_files(&path, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "nix") => out.push(path),
            _ => {}
        }
    }
}

fn repository_sources() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    nix_files(&root, &mut files);
    files.sort();
    let sources: Vec<String> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(
        sources.len() > 200,
        "only {} Nix files found",
        sources.len()
    );
    sources
}

/// Runs `f` on a thread with a stack as deep as the evaluator's (rnix recurses once per
/// nested expression, and deep trees are dropped recursively).
fn deep(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn same_tree_as_rnix_on_every_repository_file() {
    deep(same_tree)
}

fn same_tree() {
    let sources = repository_sources();
    let taken = sources.iter().filter(|s| check(s)).count();
    // Most files are valid Nix; the syntax-error cases are not.
    assert!(
        taken * 10 > sources.len() * 8,
        "{taken} of {}",
        sources.len()
    );
}

/// Each file with one token dropped, doubled, or the rest cut off, at token indices
/// spread over the file: inputs nobody wrote on purpose.
#[test]
fn same_verdict_as_rnix_on_mutated_files() {
    deep(same_verdict)
}

fn same_verdict() {
    let sources = repository_sources();
    let (mut taken, mut total) = (0, 0);
    for src in sources.iter().filter(|s| s.len() < 20_000) {
        let toks: Vec<(usize, usize)> = rnix::tokenize(src)
            .scan(0, |at, (_, s)| {
                let start = *at;
                *at += s.len();
                Some((start, *at))
            })
            .collect();
        let step = (toks.len() / 12).max(1);
        for &(start, end) in toks.iter().step_by(step) {
            for mutated in [
                format!("{}{}", &src[..start], &src[end..]),
                format!("{}{}", &src[..end], &src[start..]),
                src[..start].to_string(),
            ] {
                total += 1;
                taken += check(&mutated) as usize;
            }
        }
    }
    assert!(total > 5_000 && taken > 0, "{taken} of {total}");
}

/// Tokens where rnix's lexer has a special case, each checked against rnix's.
#[test]
fn same_tokens_as_rnix_at_the_lexer_s_edges() {
    let cases = [
        "0",
        "01",
        "01.5",
        "0.5",
        "00.1e3",
        "1.e",
        "1.5e+",
        "1.5E-3",
        ".5",
        ".5e",
        "1.2.3",
        "a/b",
        "a/ b",
        "a//b",
        "a/*c*/",
        "a/",
        "./a/",
        "./a//b",
        "/a",
        "/",
        "//",
        "/*",
        "/* ",
        "/**/",
        "/* * */",
        "~",
        "~/",
        "~/a",
        "~a",
        "~\u{e9}",
        "<a>",
        "<a/b>",
        "<>",
        "<a",
        "<a/>",
        "<|",
        "<=",
        "a:b",
        "a_b:c",
        "http://x.org/a?b=c&d",
        "a:",
        "a: b",
        "x:1",
        "${a}",
        "\"${a}\"",
        "\"a$${b}\"",
        "\"\\\"",
        "\"\\",
        "\"abc",
        "''a''",
        "''a'''b''",
        "''a''$b''",
        "''a''\\nb''",
        "''a''\\",
        "''a'",
        "''${a}''",
        "''''",
        "./a${b}c",
        "./a${b}/c/",
        "./a${b}${c}",
        "/${a}",
        "~/${a}",
        "a.b.c",
        "a.${b}",
        "{ ${a} = 1; }",
        "{ a = { }; }",
        "\"${ { a = 1; }.a }\"",
        "1+1+1",
        "a++b",
        "a->b",
        "a||b",
        "a&&b",
        "a&b",
        "a|b",
        "a|>b",
        "a<|b",
        "!a",
        "a!=b",
        "a==b",
        "#c",
        "#c\nx",
        "a #c",
        "\u{a0}x",
        "x\u{2028}y",
        "\u{e9}",
        "a\u{e9}",
        "-1",
        "--1",
        "if then else",
        "inherit",
        "or",
        "__curPos",
        "a'b",
        "a-b",
        "a'",
        "'",
        "$",
        "${",
        "}",
        "@",
        "...",
        "....",
        "..",
        "a..b",
        "1..2",
        "a...b",
        "+a/b",
        "a+/b",
        "a/b/c",
        "a/b/",
        "1/2",
        "a:/b",
        "a_b/c:d",
        "a:b_c",
        "<a_b>",
        "x<a>",
        "a.b/c",
        "<a<a>",
        "<a_b<c>:d",
        "<<a>",
        "<a<b_c:d",
        "a<b>",
        "_a<b:c",
    ];
    for src in cases {
        let theirs: Vec<_> = rnix::tokenize(src).collect();
        assert_eq!(super::lex::tokenize(src), theirs, "tokens of {src:?}");
    }
}

#[test]
fn stricter_than_rnix_where_nix_is() {
    let cases = [
        ("(1 ]", "syntax error, unexpected ']', expecting ')'", 3),
        (
            "./a ${\"x\"}",
            "syntax error, unexpected DOLLAR_CURLY, expecting end of file",
            4,
        ),
        ("[ ./a ${x} ]", "syntax error, unexpected DOLLAR_CURLY", 6),
    ];
    for (src, msg, at) in cases {
        assert!(rnix::Root::parse(src).errors().is_empty(), "{src}");
        let refused = parse(src).expect_err(src);
        assert_eq!(crate::parse_error::refusal(&refused), (msg.to_string(), at));
    }
}

/// Operator chains are built without recursing once per operator, and a run of path
/// characters is scanned once, not once per token in it (`1+1+…`).
#[test]
fn long_operator_chains() {
    deep(|| {
        // rnix's own lexer is quadratic on `1+1+…`: fewer of those. A right-associative
        // chain keeps its nodes open, as Nix's parser keeps them on its stack.
        for (first, op, n) in [
            ("1", " + 1", 50_000),
            ("1", "+1", 10_000),
            ("[ ]", " ++ [ ]", 9_000),
            ("a", " -> a", 9_000),
        ] {
            let src = first.to_string() + &op.repeat(n);
            let theirs = rnix::Root::parse(&src);
            assert!(*parse(&src).expect("a chain").tree == *theirs.syntax().green());
        }
    })
}

/// Short random strings over the characters Nix's lexer treats specially: every
/// token boundary and verdict as rnix's.
#[test]
fn same_tokens_and_verdict_on_random_inputs() {
    const PIECES: &[&str] = &[
        "a", "b_", "0", "1", ".", "/", "~", "<", ">", ":", "$", "{", "}", "${", "\"", "''", "'",
        "\\", " ", "\n", "#", "*", "+", "-", "=", ";", "(", ")", "[", "]", "@", ",", "?", "!", "&",
        "|", "or", "in", "let", "rec", "e", "\u{e9}", "\u{a0}", "...",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut taken = 0;
    for _ in 0..30_000 {
        let len = 1 + next() % 10;
        let src: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        taken += check(&src) as usize;
    }
    assert!(taken > 100, "{taken} random inputs parsed");
}

/// Nesting deeper than Nix's parser stack is refused as Nix refuses it, without
/// handing it to rnix or the compiler, which recurse on it. (Nested expressions, such
/// as parentheses, stop at rnix's limit of 512 first.)
#[test]
fn nesting_deeper_than_nix_s_stack() {
    let too_deep = [
        "[".repeat(20_000) + &"]".repeat(20_000),
        "-".repeat(20_000) + "1",
        "!".repeat(20_000) + "true",
        "[ ]".to_string() + &" ++ [ ]".repeat(20_000),
    ];
    deep(|| {
        for src in too_deep {
            let refused = parse(&src).expect_err("too deep");
            assert!(refused.too_deep, "{refused:?}");
            let (msg, _) = crate::parse_error::refusal(&refused);
            assert_eq!(msg, "memory exhausted");
        }
    })
}

/// A refused input with a long chain nested to the left is worded without rnix, whose
/// parser takes quadratic time over such a chain (a stray `]` after an application of
/// 100 000 arguments took 27 s), and as Nix 2.8 words it; a shorter chain still goes
/// through rnix's wording.
#[test]
fn a_long_chain_before_a_refusal_is_not_parsed_again() {
    let cases = [
        ("f ".to_string() + &"1 ".repeat(5_000) + "]", true),
        ("1".to_string() + &" + 1".repeat(5_000) + " ]", true),
        ("f ".to_string() + &"1 ".repeat(1_000) + "]", false),
    ];
    for (src, long) in cases {
        let refused = parse(&src).expect_err("a stray ]");
        assert_eq!(refused.long_chain, long, "{}", &src[..10]);
        let (msg, at) = crate::parse_error::checked_tree(&src).expect_err("refused");
        assert_eq!(msg, "syntax error, unexpected ']', expecting end of file");
        assert_eq!(at as usize, src.len() - 1);
    }
}
