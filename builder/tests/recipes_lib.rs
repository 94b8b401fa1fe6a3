//! The module system in `recipes/lib` and the system modules, checked against Nix 2.8 (`nix-instantiate`).
//!
//! `recipes/lib/tests/eval-okay-*.nix` and `recipes/tests/eval-okay-*.nix` must evaluate (with `--strict`) to the
//! contents of the matching `.exp`; `eval-fail-*.nix` must fail with an error
//! containing the `.exp` line. Needs `nix-bin` (installed by `cargo xtask test`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
    let mut v: Vec<PathBuf> = ["lib/tests", "tests"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("recipes test dirs exist"))
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            (n.starts_with("eval-okay-") || n.starts_with("eval-fail-")) && n.ends_with(".nix")
        })
        .collect();
    v.sort();
    v
}

fn nix_eval(file: &Path) -> std::process::Output {
    Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--store", "dummy://"])
        .arg(file)
        .env(
            "NIX_STATE_DIR",
            std::env::temp_dir().join("b8g-test-nix-state"),
        )
        .output()
        .expect("cannot run nix-instantiate: install nix-bin (cargo xtask test does)")
}

#[test]
fn module_system_matches_expected_output_under_nix() {
    let cases = cases();
    assert!(cases.len() >= 12, "test corpus went missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let exp =
            std::fs::read_to_string(case.with_extension("exp")).expect("every case has a .exp");
        let out = nix_eval(case);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if name.starts_with("eval-okay-") {
            if !out.status.success() || stdout.trim_end() != exp.trim_end() {
                failures.push(format!("{name}: expected\n{exp}\ngot\n{stdout}{stderr}"));
            }
        } else if out.status.success() || !stderr.contains(exp.trim_end()) {
            failures.push(format!(
                "{name}: expected an error containing\n{exp}\ngot\n{stdout}{stderr}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
