//! Syntax errors as Nix 2.8 words and places them: each `testdata/eval/syntax/*.nix` must fail
//! with exactly the two lines of its `.exp` (made by `nix-instantiate --eval`), and
//! `matches_live_nix` checks those files against the `nix-instantiate` on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_eval::{run_with_big_stack, EvalOptions, Evaluator, NoStore, StdIo};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/eval/syntax")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("testdata/eval/syntax exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    v.sort();
    assert!(v.len() >= 30, "the syntax corpus is there");
    v
}

/// The message line and the location line, with the directory removed from the path.
fn two_lines(text: &str) -> String {
    let prefix = format!("{}/", dir().canonicalize().unwrap().display());
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .map(|l| l.replace(&prefix, ""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ours(path: &Path) -> String {
    let p = path.canonicalize().unwrap().to_string_lossy().into_owned();
    let text = run_with_big_stack(move || {
        let mut ev = Evaluator::new(
            Box::new(StdIo),
            Box::new(NoStore::default()),
            EvalOptions::default(),
        );
        match ev.eval_file(&p) {
            Ok(_) => "evaluated without error".to_string(),
            Err(e) => e.to_string(),
        }
    })
    .expect("evaluation thread runs");
    two_lines(&text)
}

fn expected(path: &Path) -> String {
    std::fs::read_to_string(path.with_extension("exp"))
        .expect(".exp exists")
        .trim_end()
        .to_string()
}

#[test]
fn worded_and_placed_as_nix_does() {
    let mut bad = Vec::new();
    for case in cases() {
        let (got, want) = (ours(&case), expected(&case));
        if got != want {
            bad.push(format!("{}:\n  nix: {want}\n  b8g: {got}", case.display()));
        }
    }
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn matches_live_nix() {
    let mut bad = Vec::new();
    for case in cases() {
        let out = Command::new("nix-instantiate")
            .arg("--eval")
            .arg(case.canonicalize().unwrap())
            .env("NIX_REMOTE", "dummy://")
            .output()
            .expect("nix-instantiate runs (cargo xtask test installs nix-bin)");
        let got = two_lines(&String::from_utf8_lossy(&out.stderr));
        if got != expected(&case) {
            bad.push(format!("{}: {got}", case.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "the .exp files are stale:\n{}",
        bad.join("\n")
    );
}
