//! Errors as Nix 2.8 prints them, compared whole: `testdata/eval/syntax/*.nix` must fail with
//! exactly the first two lines of their `.exp` (`nix-instantiate --eval`), and
//! `testdata/eval/trace/*.nix` with exactly their `.exp` (`nix-instantiate --eval --strict
//! --show-trace`: message, code lines, suggestions and every trace frame). The `live` tests
//! check the `.exp` files against the `nix-instantiate` on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_eval::{run_with_big_stack, EvalOptions, Evaluator, NoStore, Pos, StdIo};

fn dir(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/eval")
        .join(which)
}

fn cases(which: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(which))
        .expect("the corpus directory exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "the {which} corpus is there");
    v
}

/// The text with the corpus directory removed from paths; `lines` lines of it if given.
fn relative(which: &str, text: &str, lines: Option<usize>) -> String {
    let prefix = format!("{}/", dir(which).canonicalize().unwrap().display());
    let kept: Vec<String> = match lines {
        Some(n) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .map(|l| l.replace(&prefix, ""))
            .collect(),
        None => text.lines().map(|l| l.replace(&prefix, "")).collect(),
    };
    kept.join("\n").trim_end().to_string()
}

/// Our error for the file, forced deeply as `--strict` does, with its whole trace.
fn ours(path: &Path) -> String {
    let p = path.canonicalize().unwrap().to_string_lossy().into_owned();
    run_with_big_stack(move || {
        let mut ev = Evaluator::new(
            Box::new(StdIo),
            Box::new(NoStore::default()),
            EvalOptions::default(),
        );
        match ev.eval_file(&p).and_then(|v| ev.deep_force(v, Pos::NONE)) {
            Ok(_) => "evaluated without error".to_string(),
            Err(e) => e.to_string(),
        }
    })
    .expect("evaluation thread runs")
}

fn expected(path: &Path) -> String {
    std::fs::read_to_string(path.with_extension("exp"))
        .expect(".exp exists")
        .trim_end()
        .to_string()
}

fn nix(path: &Path, flags: &[&str]) -> String {
    let out = Command::new("nix-instantiate")
        .arg("--eval")
        .args(flags)
        .arg(path.canonicalize().unwrap())
        .env("NIX_REMOTE", "dummy://")
        .output()
        .expect("nix-instantiate runs (cargo xtask test installs nix-bin)");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn compare(which: &str, lines: Option<usize>, got: impl Fn(&Path) -> String) {
    let mut bad = Vec::new();
    for case in cases(which) {
        let (got, want) = (relative(which, &got(&case), lines), expected(&case));
        if got != want {
            bad.push(format!(
                "{}:\n--- nix\n{want}\n--- b8g\n{got}",
                case.display()
            ));
        }
    }
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn syntax_errors_are_worded_and_placed_as_nix_does() {
    compare("syntax", Some(2), ours);
}

#[test]
fn traces_have_nix_s_frames() {
    compare("trace", None, ours);
}

#[test]
fn live_nix_agrees_with_the_syntax_expectations() {
    compare("syntax", Some(2), |p| nix(p, &[]));
}

#[test]
fn live_nix_agrees_with_the_trace_expectations() {
    compare("trace", None, |p| nix(p, &["--strict", "--show-trace"]));
}
