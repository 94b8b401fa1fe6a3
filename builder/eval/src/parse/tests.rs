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
    let theirs = rnix::Root::parse(src);
    match (parse(src), theirs.errors().is_empty()) {
        (Ok(ours), true) => {
            assert!(
                *ours == *theirs.syntax().green(),
                "a different tree for {src:?}:\n{:#?}\n{:#?}",
                SyntaxNode::new_root(ours),
                theirs.syntax()
            );
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

/// Operator chains are built without recursing once per operator.
#[test]
fn long_operator_chains() {
    deep(|| {
        for (first, op) in [("1", " + 1"), ("[ ]", " ++ [ ]"), ("a", " -> a")] {
            let src = first.to_string() + &op.repeat(50_000);
            let theirs = rnix::Root::parse(&src);
            assert!(*parse(&src).expect("a chain") == *theirs.syntax().green());
        }
    })
}
