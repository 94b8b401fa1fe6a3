//! The evaluation corpus under testdata/eval: `eval-okay-*.nix` must print
//! exactly their `.exp` (made by `nix-instantiate --eval --strict`), and
//! `.exp.json` for `--json`; `eval-fail-*.nix` must fail with the kind of
//! error recorded in `.err.exp` (Nix's first error line).
//! `oracle_live` compares against a live `nix-instantiate` instead, except
//! for `eval-*-newer-*` cases, which pin semantics of Nix releases after 2.8.
//! All mismatches are reported at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_eval::{
    run_with_big_stack, value_to_text, EvalOptions, Evaluator, NoStore, OutputMode, StdIo,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/eval")
}

fn cases(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("testdata/eval exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && n.ends_with(".nix")
        })
        .collect();
    v.sort();
    v
}

/// Our result: Ok(text) or Err(first error line).
fn ours(path: &Path, mode: OutputMode) -> Result<String, String> {
    ours_walking(path, mode, None)
}

/// Walks for cycles made by all evaluations so far.
static WALKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `ours`, walking for cycles after every `walk_every` new thunks if given.
fn ours_walking(path: &Path, mode: OutputMode, walk_every: Option<u64>) -> Result<String, String> {
    let path = std::fs::canonicalize(path).expect("corpus file exists");
    let p = path.to_string_lossy().into_owned();
    run_with_big_stack(move || {
        let opts = EvalOptions {
            search_path: vec![("corpus".into(), corpus_dir().to_string_lossy().into_owned())],
            ..Default::default()
        };
        let mut ev = Evaluator::new(Box::new(StdIo), Box::new(NoStore::default()), opts);
        ev.trace_sink = Box::new(|_| {});
        if let Some(n) = walk_every {
            b8g_eval::value::cycles::walk_every(n);
        }
        let r = ev
            .eval_file(&p)
            .and_then(|v| value_to_text(&mut ev, v, mode));
        WALKS.fetch_add(
            b8g_eval::value::cycles::stats().walks,
            std::sync::atomic::Ordering::Relaxed,
        );
        r.map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
    })
    .expect("evaluation thread runs")
}

/// Classifies an error line so ours and Nix's can be compared by kind.
fn kind(line: &str) -> &'static str {
    let l = line.trim_start_matches("error: ");
    if l.starts_with("evaluation aborted") {
        "abort"
    } else if l.starts_with("assertion") {
        "assert"
    } else if l.contains("infinite recursion") {
        "infrec"
    } else if l.contains("stack overflow") {
        "stack"
    } else if l.starts_with("syntax error") {
        "syntax"
    } else if l.starts_with("undefined variable") {
        "undefined"
    } else if l.starts_with("attribute") && l.contains("missing") {
        "missing-attr"
    } else if l.contains("while a") && l.contains("was expected") {
        "type"
    } else if l.starts_with("cannot coerce") {
        "coerce"
    } else if l.contains("called without required argument") {
        "missing-arg"
    } else if l.contains("called with unexpected argument") {
        "unexpected-arg"
    } else if l.starts_with("division by zero") {
        "div0"
    } else if l.contains("already defined") {
        "dup-attr"
    } else if l.contains("not a function") {
        "not-function"
    } else if l.contains("out of bounds") {
        "bounds"
    } else if l.contains("is not allowed to refer to a store path") {
        "store-ref"
    } else {
        "other"
    }
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// `eval-okay-x.nix` → `eval-okay-x<ext>` (Nix's naming: `eval-okay-x.exp`).
fn with_ext(p: &Path, ext: &str) -> PathBuf {
    let mut s = p.with_extension("").into_os_string();
    s.push(ext);
    PathBuf::from(s)
}

#[test]
fn corpus_golden() {
    let okay = cases("eval-okay-");
    let fail = cases("eval-fail-");
    assert!(okay.len() + fail.len() > 0, "empty corpus");
    let mut bad = Vec::new();
    for p in &okay {
        let exp =
            read(&with_ext(p, ".exp")).unwrap_or_else(|| panic!("{} has no .exp", p.display()));
        match ours(p, OutputMode::Strict) {
            Ok(got) if got == exp => {}
            Ok(got) => bad.push(format!("{}:\n  want {exp}\n  got  {got}", p.display())),
            Err(e) => bad.push(format!("{}:\n  want {exp}\n  error {e}", p.display())),
        }
        if let Some(exp) = read(&with_ext(p, ".exp.json")) {
            match ours(p, OutputMode::Json) {
                Ok(got) if got == exp => {}
                Ok(got) => bad.push(format!(
                    "{} (json):\n  want {exp}\n  got  {got}",
                    p.display()
                )),
                Err(e) => bad.push(format!(
                    "{} (json):\n  want {exp}\n  error {e}",
                    p.display()
                )),
            }
        }
    }
    for p in &fail {
        let exp = read(&with_ext(p, ".err.exp"))
            .unwrap_or_else(|| panic!("{} has no .err.exp", p.display()));
        match ours(p, OutputMode::Strict) {
            Ok(got) => bad.push(format!("{}: should fail ({exp}), got {got}", p.display())),
            Err(e) if kind(&e) == kind(&exp) => {}
            Err(e) => bad.push(format!("{}:\n  want {exp}\n  got  {e}", p.display())),
        }
    }
    eprintln!("corpus: {} okay, {} fail cases", okay.len(), fail.len());
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Every okay case again, walking for cycles after every 32 new thunks: a
/// walk that freed anything still in use would change a result or crash.
/// `testdata/eval/lazy/*.nix` printed lazily (`nix-instantiate --eval`
/// without `--strict`) must match their `.exp` exactly: which values are
/// still thunks (`<CODE>`) and which were passed on without one.
#[test]
fn lazy_printing_golden() {
    let dir = corpus_dir().join("lazy");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/eval/lazy exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the lazy cases are there");
    let mut bad = Vec::new();
    for p in &files {
        let want = read(&p.with_extension("exp")).expect("each lazy case has its .exp");
        match ours(p, OutputMode::Lazy) {
            Ok(got) if got == want => {}
            other => bad.push(format!("{}: want {want}, got {other:?}", p.display())),
        }
    }
    assert!(bad.is_empty(), "lazy printing differs:\n{}", bad.join("\n"));
}

#[test]
fn corpus_with_frequent_cycle_walks() {
    let mut bad = Vec::new();
    let before = WALKS.load(std::sync::atomic::Ordering::Relaxed);
    let okay = cases("eval-okay-");
    for p in &okay {
        let exp =
            read(&with_ext(p, ".exp")).unwrap_or_else(|| panic!("{} has no .exp", p.display()));
        match ours_walking(p, OutputMode::Strict, Some(32)) {
            Ok(got) if got == exp => {}
            other => bad.push(format!("{}:\n  want {exp}\n  got  {other:?}", p.display())),
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Other tests may walk at the same time; these cases alone walk more.
    let walks = WALKS.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(walks as usize > okay.len(), "only {walks} walks");
    eprintln!("{} cases, {walks} walks", okay.len());
}

fn nix_instantiate(p: &Path, json: bool) -> Result<String, String> {
    let tmp = std::env::temp_dir().join("b8g-eval-oracle");
    let mut cmd = Command::new("nix-instantiate");
    cmd.args(["--eval", "--strict", "--store", "dummy://"]);
    if json {
        cmd.arg("--json");
    }
    cmd.arg("-I")
        .arg(format!("corpus={}", corpus_dir().display()));
    cmd.arg(p)
        .env("NIX_STATE_DIR", tmp.join("state"))
        .env("NIX_LOG_DIR", tmp.join("log"))
        .env("NIX_CONF_DIR", tmp.join("conf"))
        .env("HOME", &tmp);
    let out = cmd
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for the oracle test");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .to_string())
    }
}

/// Every corpus file against the live `nix-instantiate` (Nix 2.8).
#[test]
fn oracle_live() {
    let have = Command::new("nix-instantiate").arg("--version").output();
    assert!(
        have.is_ok(),
        "nix-instantiate not found: install the apt package nix-bin to run the oracle test"
    );
    let mut bad = Vec::new();
    let mut all = cases("eval-okay-");
    all.extend(cases("eval-fail-"));
    all.retain(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !n.starts_with("eval-okay-newer-") && !n.starts_with("eval-fail-newer-")
    });
    // nix-instantiate dominates the run time: start several at once.
    let jobs: Vec<(&PathBuf, bool)> = all.iter().flat_map(|p| [(p, false), (p, true)]).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<String, String>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((p, json)) = jobs.get(i) else { break };
                let r = nix_instantiate(p, *json);
                *results[i].lock().expect("no panics while holding the lock") = Some(r);
            });
        }
    });
    for (i, (p, json)) in jobs.iter().enumerate() {
        let (p, json) = (*p, *json);
        {
            let theirs = results[i]
                .lock()
                .expect("no panics while holding the lock")
                .take()
                .expect("every job ran");
            let mode = if json {
                OutputMode::Json
            } else {
                OutputMode::Strict
            };
            let mine = ours(p, mode);
            let same = match (&theirs, &mine) {
                (Ok(a), Ok(b)) => a == b,
                (Err(a), Err(b)) => json || kind(a) == kind(b),
                _ => false,
            };
            if !(same || (json && theirs.is_err())) {
                bad.push(format!(
                    "{}{}:\n  nix  {theirs:?}\n  ours {mine:?}",
                    p.display(),
                    if json { " (json)" } else { "" }
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
