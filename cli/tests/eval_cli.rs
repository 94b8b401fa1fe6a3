//! `b8g eval` and `b8g instantiate` end to end: the binary against the
//! golden outputs made by Nix 2.8, and `instantiate` against a live
//! `nix-instantiate` (needs the apt package nix-bin).

use std::path::{Path, PathBuf};
use std::process::Command;

fn b8g() -> Command {
    Command::new(env!("CARGO_BIN_EXE_b8g"))
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eval")
}

fn stdout_ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn eval_prints_like_nix_instantiate() {
    for name in [
        "eval-okay-attrs-nested-path",
        "eval-okay-lib-makeExtensible",
        "eval-okay-toJSON-basic",
    ] {
        let file = testdata().join(format!("{name}.nix"));
        let exp =
            std::fs::read_to_string(testdata().join(format!("{name}.exp"))).expect("golden file");
        let got = stdout_ok(
            b8g()
                .args(["eval", "--strict"])
                .arg(&file)
                .output()
                .expect("run b8g"),
        );
        assert_eq!(got, exp.trim_end(), "{name}");
    }
    let got = stdout_ok(
        b8g()
            .args(["eval", "--json", "-E", "{ a = [ 1 2.5 ]; }"])
            .output()
            .expect("run b8g"),
    );
    assert_eq!(got, r#"{"a":[1,2.5]}"#);
}

#[test]
fn eval_args_and_attr_selection() {
    let dir = std::env::temp_dir().join(format!("b8g-eval-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let f = dir.join("f.nix");
    std::fs::write(&f, "{ n, s ? \"d\" }: { r = n * 2; inherit s; }").expect("write");
    let got = stdout_ok(
        b8g()
            .args(["eval", "--strict"])
            .arg(&f)
            .args(["--arg", "n", "21", "--argstr", "s", "x"])
            .output()
            .expect("run b8g"),
    );
    assert_eq!(got, r#"{ r = 42; s = "x"; }"#);
    let got = stdout_ok(
        b8g()
            .args(["eval"])
            .arg(&f)
            .args(["--arg", "n", "2", "-A", "r"])
            .output()
            .expect("run b8g"),
    );
    assert_eq!(got, "4");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Several `-A`: the results in order and the first failure's error, traces
/// once each in order, whatever the number of threads; what `nix-instantiate
/// --eval --strict` with the same `-A` prints.
#[test]
fn several_attributes_print_in_order_on_any_number_of_threads() {
    let expr = "{ a = builtins.trace \"a\" 1; b = { c = [ 2 ]; }; \
                d = builtins.foldl' builtins.add 0 (builtins.genList (x: x) 100000); \
                e = throw \"e fails\"; f = 3; }";
    let run = |threads: &str, attrs: &[&str]| {
        let mut c = b8g();
        c.args(["eval", "--strict", "-E", expr])
            .env("B8G_EVAL_THREADS", threads);
        for a in attrs {
            c.args(["-A", a]);
        }
        let o = c.output().expect("run b8g");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    for threads in ["1", "2", "4"] {
        let (ok, out, err) = run(threads, &["d", "b", "a", "b.c"]);
        assert!(ok, "{err}");
        assert_eq!(
            out, "4999950000\n{ c = [ 2 ]; }\n1\n[ 2 ]\n",
            "{threads} threads"
        );
        assert_eq!(err, "trace: a\n", "{threads} threads");
        let (ok, out, err) = run(threads, &["b.c", "e", "f"]);
        assert!(!ok);
        assert_eq!(out, "[ 2 ]\n", "{threads} threads");
        assert!(err.contains("e fails"), "{err}");
    }
}

#[test]
fn eval_errors_are_reported_like_nix() {
    let out = b8g()
        .args(["eval", "-E", "throw \"boom\""])
        .output()
        .expect("run b8g");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // As Nix 2.8 prints a throw: the message, no position.
    assert_eq!(err, "error: boom\n");
    // Deep recursion ends in a clean error, not a crashed process.
    let out = b8g()
        .args([
            "eval",
            "-E",
            "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 1000000",
        ])
        .output()
        .expect("run b8g");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: stack overflow"));
}

#[test]
fn instantiate_matches_nix_instantiate() {
    let expr = r#"let a = derivation { name = "a"; builder = "/bin/sh"; system = "x86_64-linux"; outputs = [ "out" "dev" ]; };
      f = derivation { name = "f"; builder = "/bin/sh"; system = "x86_64-linux"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; };
      in [ a (derivation { name = "b"; builder = "/bin/sh"; system = "x86_64-linux"; deps = [ a.dev f ]; }) f ]"#;
    let dir = std::env::temp_dir().join(format!("b8g-inst-cli-{}", std::process::id()));
    let ours = stdout_ok(
        b8g()
            .args([
                "--store-dir",
                "/nix/store",
                "--state-dir",
                "/nix/var/nix",
                "--root",
            ])
            .arg(dir.join("ours"))
            .args(["instantiate", "-E", expr])
            .output()
            .expect("run b8g"),
    );
    let theirs = Command::new("nix-instantiate")
        .arg("--store")
        .arg(format!("local?root={}", dir.join("nix").display()))
        .args(["-E", expr])
        .env("NIX_STATE_DIR", dir.join("state"))
        .env("NIX_LOG_DIR", dir.join("log"))
        .env("NIX_CONF_DIR", dir.join("conf"))
        .env("HOME", &dir)
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
    let theirs = stdout_ok(theirs);
    assert_eq!(ours, theirs);
    for p in ours.lines() {
        let a = std::fs::read(dir.join("ours").join(p.trim_start_matches('/'))).expect("our .drv");
        let b = std::fs::read(dir.join("nix").join(p.trim_start_matches('/'))).expect("nix's .drv");
        assert_eq!(a, b, "{p}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression (issue 21): at the console's login shell `b8gctl` was "not found": no
/// /etc/profile put the system profile on PATH (busybox login sets /bin:/usr/bin), and
/// b8gctl was not in the system profile at all.
#[test]
fn login_shells_get_the_system_profile_on_path() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let recipes = workspace.join("recipes").canonicalize().expect("recipes");
    let minimal = workspace
        .join("images/minimal.nix")
        .canonicalize()
        .expect("minimal.nix");
    // pkgs.b8g stands in as a store path, so nothing is copied into a store.
    let expr = format!(
        r#"let
  fake = "${{builtins.storeDir}}/00000000000000000000000000000000-b8g";
  s = import {r}/eval-config.nix {{
    modules = [ {m} ];
    pkgs = import {r}/pkgs {{ overlays = [ (f: p: {{ b8g = fake; }}) ]; }};
  }};
in {{
  profile = s.config.environment.etc.profile.text;
  setEnv = s.config.environment.etc."set-environment".text;
  b8gInSw = builtins.elem fake s.config.environment.systemPackages;
}}"#,
        r = recipes.display(),
        m = minimal.display()
    );
    let got = stdout_ok(
        b8g()
            .args(["eval", "--strict", "--json", "-E", &expr])
            .output()
            .expect("run b8g"),
    );
    let v: serde_json::Value = serde_json::from_str(&got).expect("json");
    assert_eq!(v["b8gInSw"], true, "b8gctl is in the system profile: {got}");
    let profile = v["profile"].as_str().expect("profile text");
    let set_env = v["setEnv"].as_str().expect("set-environment text");
    assert!(
        profile.contains(". /etc/set-environment"),
        "/etc/profile reads /etc/set-environment:\n{profile}"
    );
    assert!(
        set_env
            .lines()
            .any(|l| l.starts_with("export PATH=") && l.contains(":/run/current-system/sw/bin:")),
        "/etc/set-environment puts the system profile on PATH:\n{set_env}"
    );
}

/// On a small machine (a 512 MiB VM) the kernel refuses the evaluation thread's
/// 1 GiB stack: evaluation runs on a smaller one and deep recursion still fails
/// cleanly ("cannot start the evaluation thread" before).
#[test]
fn evaluation_runs_where_a_1_gib_stack_cannot_be_mapped() {
    let sh = |expr: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 700000; exec {} eval -E '{expr}'",
                env!("CARGO_BIN_EXE_b8g")
            ))
            .output()
            .unwrap()
    };
    let out = sh("1 + 1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sh("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 1000000");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: stack overflow"));
}
