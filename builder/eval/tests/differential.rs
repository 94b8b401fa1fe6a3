//! Differential testing against Nix 2.8: random expressions (lets,
//! recursion, sets, `?`, `or`, `inherit`, `with`, interpolation, lists,
//! functions with formals, `tryEval`, a few builtins) are evaluated by
//! b8g-eval and by `nix-instantiate --eval --strict`; both must give the same
//! text, or both fail. A mismatch is shrunk by proptest and becomes a
//! corpus case in testdata/eval.
//!
//! Slow (one Nix process per case): ignored by default, run by
//! `cargo xtask test --full`; `PROPTEST_CASES` sets how many cases.

use std::process::Command;

use b8g_eval::{
    run_with_big_stack, value_to_text, EvalOptions, Evaluator, NoStore, OutputMode, StdIo,
};
use proptest::prelude::*;

/// Names every generated expression may use (bound around it).
const PRELUDE: &str = "let a = 1; b = \"s\"; c = { x = 1; y = [ 2 3 ]; }; d = [ 1 \"t\" ]; \
    f = v: v; g = { p, q ? 2 }: p + q; in ";

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0"),
        Just("1"),
        Just("(-3)"),
        Just("1.5"),
        Just("\"s\""),
        Just("\"\""),
        Just("true"),
        Just("false"),
        Just("null"),
        Just("a"),
        Just("b"),
        Just("c"),
        Just("d"),
        Just("c.x"),
        Just("c.y"),
        Just("f"),
        Just("g"),
        Just("x0"),
        Just("[ ]"),
        Just("{ }"),
        Just("(throw \"t\")"),
    ]
    .prop_map(str::to_owned)
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 48, 3, |inner| {
        let e = inner.clone();
        prop_oneof![
            (
                e.clone(),
                e.clone(),
                prop_oneof![
                    Just("+"),
                    Just("-"),
                    Just("*"),
                    Just("=="),
                    Just("!="),
                    Just("<"),
                    Just("&&"),
                    Just("||"),
                    Just("++"),
                    Just("//"),
                    Just("->"),
                ]
            )
                .prop_map(|(l, r, op)| format!("({l} {op} {r})")),
            e.clone().prop_map(|x| format!("(!{x})")),
            (e.clone(), e.clone(), e.clone())
                .prop_map(|(c, t, f)| format!("(if {c} then {t} else {f})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("[ {x} {y} ]")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("{{ a = {x}; b = {y}; }}")),
            (e.clone(), e.clone())
                .prop_map(|(x, y)| format!("(rec {{ a = {x}; b = a; c = {y}; }})")),
            (e.clone(), e.clone())
                .prop_map(|(x, y)| format!("{{ a = {{ b = {x}; }}; a.c = {y}; }}")),
            e.clone().prop_map(|x| format!("({x} ? a)")),
            e.clone().prop_map(|x| format!("({x} ? a.b)")),
            // Parenthesised: rnix lexes `0.` as a float where Nix reads `0` and a
            // selection (`0.a or 5` is 5 in Nix), a known lexer difference.
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(({x}).a or {y})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(let x0 = {x}; in {y})")),
            (e.clone(), e.clone())
                .prop_map(|(x, y)| format!("(let x0 = {{ a = {x}; }}; in x0.a or {y})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(with {x}; {y})")),
            e.clone().prop_map(|x| format!("\"<${{{x}}}>\"")),
            e.clone().prop_map(|x| format!("(f {x})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(g {{ p = {x}; q = {y}; }})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("((x0: {x}) {y})")),
            (e.clone(), e.clone())
                .prop_map(|(x, y)| format!("({{ a, ... }}@s: {x}) {{ a = {y}; z = 1; }}")),
            e.clone().prop_map(|x| format!("{{ inherit ({x}) a; }}")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(assert {x}; {y})")),
            e.clone().prop_map(|x| format!("(builtins.tryEval {x})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(builtins.seq {x} {y})")),
            (e.clone(), e.clone()).prop_map(|(x, y)| format!("(builtins.deepSeq {x} {y})")),
            e.clone().prop_map(|x| format!("(builtins.length {x})")),
            e.clone().prop_map(|x| format!("(builtins.attrNames {x})")),
            e.clone().prop_map(|x| format!("(builtins.typeOf {x})")),
            e.clone().prop_map(|x| format!("(builtins.toJSON {x})")),
            e.clone().prop_map(|x| format!("(builtins.map f {x})")),
            e.clone().prop_map(|x| format!("(builtins.head {x})")),
            (e.clone(), e.clone())
                .prop_map(|(x, y)| format!("(builtins.mapAttrs (n: v: {x}) {y})")),
            e.clone().prop_map(|x| format!(
                "(builtins.listToAttrs [ {{ name = \"k\"; value = {x}; }} ])"
            )),
            e.clone()
                .prop_map(|x| format!("(builtins.concatStringsSep \",\" {x})")),
            e.clone()
                .prop_map(|x| format!("(builtins.functionArgs {x})")),
        ]
    })
}

fn ours(expr: &str, mode: OutputMode) -> Result<String, String> {
    let expr = format!("{PRELUDE}{expr}");
    run_with_big_stack(move || {
        let mut ev = Evaluator::new(
            Box::new(StdIo),
            Box::new(NoStore::default()),
            EvalOptions::default(),
        );
        ev.trace_sink = Box::new(|_| {});
        ev.eval_str(&expr, "/")
            .and_then(|v| value_to_text(&mut ev, v, mode))
            .map_err(|e| e.to_string().lines().next().unwrap_or("").to_owned())
    })
    .expect("evaluation thread runs")
}

fn nix(expr: &str, json: bool) -> Result<String, String> {
    let tmp = std::env::temp_dir().join("b8g-eval-differential");
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--store", "dummy://"])
        .args(json.then_some("--json"))
        .arg("-E")
        .arg(format!("{PRELUDE}{expr}"))
        .env("NIX_STATE_DIR", tmp.join("state"))
        .env("NIX_LOG_DIR", tmp.join("log"))
        .env("NIX_CONF_DIR", tmp.join("conf"))
        .env("HOME", &tmp)
        .current_dir("/")
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .to_owned())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    #[ignore = "slow: one nix-instantiate per case; cargo xtask test --full"]
    fn b8g_and_nix_agree_on_random_expressions(e in expr()) {
        let (b, n) = (ours(&e, OutputMode::Strict), nix(&e, false));
        // B8G_DIFF_LOG=1 shows what was compared (to see the cases are not all errors).
        if std::env::var_os("B8G_DIFF_LOG").is_some() {
            eprintln!("{}\t{e}\t{b:?}", if b.is_ok() { "ok" } else { "err" });
        }
        match (&b, &n) {
            // Where `«repeated»` stands depends on which values share a cell
            // in Nix (variables reuse the cell they name, small lists live in
            // it); b8g does not copy that sharing everywhere, so such outputs
            // are compared as JSON, which spells every value out.
            (Ok(x), Ok(y)) if x != y && (x.contains('«') || y.contains('«')) => {
                let (bj, nj) = (ours(&e, OutputMode::Json), nix(&e, true));
                match (&bj, &nj) {
                    (Ok(x), Ok(y)) => prop_assert_eq!(x, y, "values differ for {}", e),
                    (Err(_), Err(_)) => {}
                    _ => prop_assert!(false, "JSON: one fails for {}:\n  b8g {:?}\n  nix {:?}", e, bj, nj),
                }
            }
            (Ok(x), Ok(y)) => prop_assert_eq!(x, y, "values differ for {}", e),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "one fails, one does not, for {}:\n  b8g {:?}\n  nix {:?}", e, b, n),
        }
    }
}
