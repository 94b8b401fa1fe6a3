//! `b8g` called as `nix-instantiate` beside Nix 2.8's, on the flags of issue
//! 14: `--add-root` (with `--indirect`), `--timeout`, `--show-trace`, and the
//! refused `--parse`. Output and exit codes are compared; each side has a
//! throw-away store (ours a chroot store for `/nix/store`). Needs `nix-bin`.

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Env {
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Env {
    fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("b8g-ni-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["bin", "ours-cwd", "nix-cwd"] {
            std::fs::create_dir_all(dir.join(d)).expect("create test dirs");
        }
        symlink(env!("CARGO_BIN_EXE_b8g"), dir.join("bin/nix-instantiate"))
            .expect("link b8g as nix-instantiate");
        Env { dir }
    }

    fn ours(&self, args: &[&str]) -> Output {
        Command::new(self.dir.join("bin/nix-instantiate"))
            .args(args)
            .current_dir(self.dir.join("ours-cwd"))
            .env("B8G_STORE_DIR", "/nix/store")
            .env("B8G_STATE_DIR", "/nix/var/nix")
            .env("B8G_STORE_ROOT", self.dir.join("ours-root"))
            .output()
            .expect("run b8g as nix-instantiate")
    }

    fn nix(&self, args: &[&str]) -> Output {
        Command::new("nix-instantiate")
            .arg("--store")
            .arg(format!(
                "local?root={}",
                self.dir.join("nix-root").display()
            ))
            .args(args)
            .current_dir(self.dir.join("nix-cwd"))
            .env("NIX_STATE_DIR", self.dir.join("nix-state"))
            .env("NIX_LOG_DIR", self.dir.join("nix-log"))
            .env("NIX_CONF_DIR", self.dir.join("nix-conf"))
            .env("HOME", &self.dir)
            .output()
            .expect("nix-instantiate must be installed (apt package nix-bin) for this test")
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const DRVS: &str = r#"let a = derivation { name = "a"; builder = "/bin/sh"; system = "x86_64-linux"; outputs = [ "out" "dev" ]; };
  in [ a a.dev (derivation { name = "b"; builder = "/bin/sh"; system = "x86_64-linux"; }) ]"#;

/// `--add-root` prints the roots (`PATH`, `PATH-2`, … with `!output` for
/// other outputs), each a link to its `.drv` registered as an indirect root.
#[test]
fn add_root_makes_the_roots_nix_makes() {
    let env = Env::new("root");
    let args = ["--add-root", "./sub/../drv", "--indirect", "-E", DRVS];
    let (ours, nix) = (env.ours(&args), env.nix(&args));
    assert!(nix.status.success(), "{}", text(&nix.stderr));
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let strip = |out: &Output, cwd: &str| text(&out.stdout).replace(cwd, "CWD");
    let ours_out = strip(&ours, &env.dir.join("ours-cwd").to_string_lossy());
    assert_eq!(
        ours_out,
        strip(&nix, &env.dir.join("nix-cwd").to_string_lossy())
    );
    assert_eq!(ours_out, "CWD/drv\nCWD/drv-2!dev\nCWD/drv-3\n");
    for link in ["drv", "drv-2", "drv-3"] {
        let name = |side: &str| {
            std::fs::read_link(env.dir.join(side).join(link))
                .expect("the root is a link")
                .file_name()
                .expect("to a store path")
                .to_owned()
        };
        assert_eq!(name("ours-cwd"), name("nix-cwd"), "{link}");
    }
    // The roots are registered where our GC looks for indirect roots.
    let auto = env.dir.join("ours-root/nix/var/nix/gcroots/auto");
    let mut registered: Vec<PathBuf> = std::fs::read_dir(&auto)
        .expect("gcroots/auto exists")
        .map(|e| std::fs::read_link(e.expect("entry").path()).expect("a link"))
        .collect();
    registered.sort();
    let cwd = env.dir.join("ours-cwd");
    assert_eq!(
        registered,
        [cwd.join("drv"), cwd.join("drv-2"), cwd.join("drv-3")]
    );
    // Without --add-root: the drv paths and Nix's warning.
    let (ours, nix) = (env.ours(&["-E", DRVS]), env.nix(&["-E", DRVS]));
    assert_eq!(text(&ours.stdout), text(&nix.stdout));
    assert_eq!(text(&ours.stderr), text(&nix.stderr));
}

/// What Nix refuses, b8g refuses with the same words and exit code.
#[test]
fn refusals_and_setting_values_match_nix() {
    let env = Env::new("refuse");
    for side in ["ours-cwd", "nix-cwd"] {
        std::fs::write(env.dir.join(side).join("plainfile"), "x").expect("write a file");
    }
    let drv = r#"derivation { name = "b"; builder = "/bin/sh"; system = "x86_64-linux"; }"#;
    let cases: Vec<Vec<&str>> = vec![
        vec!["--add-root", "/nix/store/x", "-E", drv],
        vec!["--timeout", "abc", "--eval", "-E", "1"],
        vec!["--timeout", "-5", "--eval", "-E", "1"],
        vec!["--timeout", "10k", "--eval", "-E", "1"],
        vec!["--cores", "", "--eval", "-E", "1"],
        vec!["--max-silent-time", "3G", "--eval", "-E", "1"],
        vec!["--eval", "-E", "1", "--timeout"],
        vec!["--eval", "-E", "1", "--add-root"],
        vec!["--eval", "-E", "1", "-A"],
        vec!["--eval", "-E", "1", "--arg", "x"],
        vec!["--eval", "-E", "1", "-I"],
    ];
    for args in &cases {
        let (ours, nix) = (env.ours(args), env.nix(args));
        assert_eq!(
            (ours.status.code(), text(&ours.stdout), text(&ours.stderr)),
            (nix.status.code(), text(&nix.stdout), text(&nix.stderr)),
            "{args:?}"
        );
    }
    let args = ["--add-root", "plainfile", "-E", drv];
    let (ours, nix) = (env.ours(&args), env.nix(&args));
    let first = |o: &Output| text(&o.stderr).replace(&*env.dir.to_string_lossy(), "DIR");
    assert_eq!(ours.status.code(), nix.status.code());
    assert_eq!(
        first(&ours).replace("ours-cwd", "CWD"),
        first(&nix).replace("nix-cwd", "CWD")
    );
}

/// Without `--show-trace` an error is its message and position, with Nix's
/// hint when there is a trace; with it, the trace follows.
#[test]
fn show_trace_shows_the_trace_only_when_asked() {
    let env = Env::new("trace");
    let expr = r#"let f = x: builtins.addErrorContext "while f" (x + "a"); in { a = f 1; }"#;
    let plain = ["--eval", "--strict", "-E", expr];
    let (ours, nix) = (env.ours(&plain), env.nix(&plain));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(nix.status.code(), Some(1));
    let (o, n) = (text(&ours.stderr), text(&nix.stderr));
    assert_eq!(o.lines().next(), n.lines().next());
    let hint = "(use '--show-trace' to show detailed location information)";
    assert_eq!(o.lines().last(), Some(hint), "{o}");
    assert_eq!(n.lines().last(), Some(hint), "{n}");
    assert!(!o.contains('…'), "no trace without --show-trace: {o}");
    let traced = ["--eval", "--strict", "--show-trace", "-E", expr];
    let (ours, nix) = (env.ours(&traced), env.nix(&traced));
    let (o, n) = (text(&ours.stderr), text(&nix.stderr));
    assert!(
        o.contains("… while f") && n.contains("… while f"),
        "{o}\n{n}"
    );
    assert!(!o.contains(hint) && !n.contains(hint));
    // An error without a trace gets no hint.
    let (ours, nix) = (
        env.ours(&["--eval", "-E", "undefinedvar"]),
        env.nix(&["--eval", "-E", "undefinedvar"]),
    );
    assert_eq!(text(&ours.stderr), text(&nix.stderr));
}

/// `--parse` is refused (see the module doc of the command): Nix's printer
/// orders `let` bindings by where their symbols sit in memory.
#[test]
fn parse_is_refused_clearly() {
    let env = Env::new("parse");
    let out = env.ours(&["--parse", "-E", "let a = 1; type = 2; in a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).starts_with("error: --parse is not supported by b8g"),
        "{}",
        text(&out.stderr)
    );
    // What Nix prints, for the record: `type` (interned at start-up) first.
    let nix = env.nix(&["--parse", "-E", "let a = 1; type = 2; in a"]);
    assert_eq!(text(&nix.stdout), "(let type = 2; a = 1; in a)\n");
}

/// Content that does not have its declared hash ends the evaluation with
/// Nix's status 102 (and `tryEval` does not catch it).
#[test]
fn hash_mismatches_exit_with_102() {
    let env = Env::new("mismatch");
    let file = env.dir.join("f.txt");
    std::fs::write(&file, "hi\n").expect("write a file to fetch");
    let repo = env.dir.join("repo");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "b8g")
            .env("GIT_AUTHOR_EMAIL", "b8g@example.org")
            .env("GIT_COMMITTER_NAME", "b8g")
            .env("GIT_COMMITTER_EMAIL", "b8g@example.org")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    };
    std::fs::create_dir_all(&repo).expect("create the repository");
    git(&["init", "-q"]);
    std::fs::write(repo.join("a"), "a\n").expect("write a tracked file");
    git(&["add", "a"]);
    git(&["-c", "commit.gpgsign=false", "commit", "-qm", "one"]);
    let zero = "0000000000000000000000000000000000000000000000000000";
    for expr in [
        format!(
            "builtins.fetchurl {{ url = \"file://{}\"; sha256 = \"{zero}\"; }}",
            file.display()
        ),
        format!(
            "builtins.tryEval (builtins.fetchurl {{ url = \"file://{}\"; sha256 = \"{zero}\"; }})",
            file.display()
        ),
        format!(
            "builtins.fetchGit {{ url = {}; narHash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }}",
            repo.display()
        ),
    ] {
        let args = ["--eval", "-E", expr.as_str()];
        let (ours, nix) = (env.ours(&args), env.nix(&args));
        assert_eq!(nix.status.code(), Some(102), "{}", text(&nix.stderr));
        assert_eq!(ours.status.code(), Some(102), "{}", text(&ours.stderr));
        // The same error, up to what it names (Nix shows the input as a URL with its attributes).
        let head = |o: &Output| {
            let e = text(&o.stderr);
            let first = e.lines().find(|l| l.starts_with("error:")).unwrap_or("").to_string();
            first.split('\'').next().unwrap_or("").to_string()
        };
        assert_eq!(head(&ours), head(&nix), "{expr}");
    }
}

/// Several `-A` are evaluated on several threads (`B8G_EVAL_THREADS`); what is
/// printed is Nix's either way: every result in order, and on a failure the
/// results before it, then its error (Nix prints as it goes).
#[test]
fn several_attributes_print_what_nix_prints_on_any_number_of_threads() {
    let env = Env::new("par");
    let expr = r#"let t = builtins.trace "shared" 7;
      big = n: builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x * n) 20000);
      in { a = big 1; b = big 2; c = t; d = t + 1; e = throw "e fails"; f = big 3; g = throw "g fails"; }"#;
    let cases: [&[&str]; 3] = [
        &["-A", "a", "-A", "b", "-A", "f", "-A", "a"],
        &["-A", "a", "-A", "c", "-A", "d", "-A", "b"],
        &["-A", "a", "-A", "b", "-A", "g", "-A", "f", "-A", "e"],
    ];
    for attrs in cases {
        let mut args = vec!["--eval", "--strict", "-E", expr];
        args.extend_from_slice(attrs);
        let nix = env.nix(&args);
        for threads in ["1", "2", "4"] {
            let ours = Command::new(env.dir.join("bin/nix-instantiate"))
                .args(&args)
                .env("B8G_EVAL_THREADS", threads)
                .env("B8G_STORE_DIR", "/nix/store")
                .env("B8G_STATE_DIR", "/nix/var/nix")
                .env("B8G_STORE_ROOT", env.dir.join("ours-root"))
                .output()
                .expect("run b8g as nix-instantiate");
            let what = format!("{attrs:?} on {threads} threads");
            assert_eq!(text(&ours.stdout), text(&nix.stdout), "stdout of {what}");
            assert_eq!(text(&ours.stderr), text(&nix.stderr), "stderr of {what}");
            assert_eq!(ours.status.code(), nix.status.code(), "status of {what}");
        }
    }
}

/// Without `--strict`, what an earlier attribute forced shows in a later one
/// (`<CODE>` or its value); results come out as they are made, between the
/// traces, as Nix prints them (one stream: `2>&1`).
#[test]
fn lazy_output_and_interleaving_are_nix_s_on_any_number_of_threads() {
    let env = Env::new("lazy");
    let run = |program: &str, threads: &str, expr: &str| {
        let file = env.dir.join("expr.nix");
        std::fs::write(&file, expr).expect("write the expression");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{program} --eval --store dummy:// {} -A a -A b -A c -A d 2>&1",
                file.display()
            ))
            .env("B8G_EVAL_THREADS", threads)
            .env("B8G_STORE_DIR", "/nix/store")
            .env("B8G_STATE_DIR", "/nix/var/nix")
            .env("B8G_STORE_ROOT", env.dir.join("ours-root"))
            .env("NIX_STATE_DIR", env.dir.join("nix-state"))
            .output()
            .expect("run sh");
        (text(&out.stdout), out.status.code())
    };
    let ours = env.dir.join("bin/nix-instantiate");
    let ours = ours.to_string_lossy();
    // No trace: a parallel run would stand unless lazy output kept it on one thread.
    let lazy = r#"let s = { q = builtins.add 1 1; }; w = builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 300000); in { a = builtins.seq w s.q; b = s; c = 3; d = throw "d"; }"#;
    let traced = r#"{ a = 1; b = 2; c = builtins.trace "tc" 3; d = throw "d"; }"#;
    let nix = run("nix-instantiate", "1", lazy);
    assert!(nix.0.starts_with("2\n{ q = 2; }\n3\n"), "{}", nix.0);
    for threads in ["1", "2"] {
        assert_eq!(run(&ours, threads, lazy), nix, "{threads} threads");
    }
    let nix = run("nix-instantiate", "1", traced);
    assert!(nix.0.starts_with("1\n2\ntrace: tc\n3\n"), "{}", nix.0);
    for threads in ["1", "2"] {
        assert_eq!(run(&ours, threads, traced), nix, "{threads} threads");
    }
}

/// Which derivations a value gives (Nix's getDerivations): a derivation met
/// twice is listed once (`d`, `d.out`, `d // { }`), lists are searched at any
/// depth, functions and `__functor` sets are called with the arguments, and a
/// value that is none of these is an error. Compared with Nix 2.8, stdout,
/// stderr and status.
#[test]
fn derivations_are_found_as_nix_finds_them() {
    let env = Env::new("drvs");
    let d = r#"derivation { name = "d"; builder = "/bin/sh"; system = "x86_64-linux"; outputs = [ "out" "doc" ]; }"#;
    for e in [
        format!("let d = {d}; in [ d d.out d.doc (d // {{ }}) {{ recurseForDerivations = true; y = d; }} ]"),
        format!("let d = {d}; in {{ x = d; y = d; z = d.doc; }}"),
        format!("[ {{ a = {d}; }} ]"),
        format!("{{ a = [ ({d}) ]; b = {{ c = {d}; }}; }}"),
        // Two elements, the function `derivation` and a set: Nix calls the
        // function with no arguments and fails on the derivation it gives.
        format!("[ {d} ]"),
        format!("[ ({{ x ? 1 }}: {d}) ]"),
        format!("{{ __functor = self: {{ x ? 1 }}: {d}; }}"),
        "[ 1 ]".to_string(),
        "1".to_string(),
        "{ a = 1; }".to_string(),
    ] {
        let (ours, nix) = (env.ours(&["-E", &e]), env.nix(&["-E", &e]));
        assert_eq!(text(&ours.stdout), text(&nix.stdout), "{e}");
        assert_eq!(text(&ours.stderr), text(&nix.stderr), "{e}");
        assert_eq!(ours.status.code(), nix.status.code(), "{e}");
    }
    // --readonly-mode: the same paths, and no .drv written.
    let e = format!("[ ({}) ]", d.replace("\"d\"", "\"ro\""));
    let args = ["--readonly-mode", "-E", &e];
    let (ours, nix) = (env.ours(&args), env.nix(&args));
    assert_eq!(text(&ours.stdout), text(&nix.stdout));
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let drv = text(&ours.stdout).trim().to_string();
    assert!(!env
        .dir
        .join("ours-root")
        .join(drv.trim_start_matches('/'))
        .exists());
}
