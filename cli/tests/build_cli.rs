//! `b8g-build FILE` on plain derivations (like nix-build): result links as GC
//! roots, `--arg`, `-A`, `--dry-run`, build logs through `b8g log`, `--check`
//! on deterministic and non-deterministic builds, and substitution from a
//! signed `file://` cache instead of building.
//!
//! Builds run in the sandbox with the host's static busybox as the only
//! input (Debian package busybox-static).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const B8G: &str = env!("CARGO_BIN_EXE_b8g");
const B8G_BUILD: &str = env!("CARGO_BIN_EXE_b8g-build");

/// A chroot store under a temporary directory and a project directory with
/// `default.nix` and a copy of busybox.
struct World {
    dir: tempfile::TempDir,
}

const DEFAULT_NIX: &str = r#"
{ greeting ? "hello", salt ? "" }:
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  mk = name: script: extra: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = "${bb}/bin/busybox";
    args = [ "sh" "-c" script ];
  } // extra);
  dep = mk "dep${salt}" "echo building dep; echo ${greeting} > $out" { };
in {
  dep = dep;
  top = mk "top${salt}" "echo building top; read x < ${dep}; echo \"$x world\" > $out" { };
  multi = mk "multi${salt}" "echo a > $out; echo b > $doc" { outputs = [ "out" "doc" ]; };
  random = mk "random${salt}" "cat /proc/sys/kernel/random/uuid > $out" { };
  tree = mk "tree${salt}" "mkdir -p $out/sub; echo same > $out/same; cat /proc/sys/kernel/random/uuid > $out/sub/r" { };
  broken = mk "broken${salt}" "echo cannot; exit 1" { };
  quiet = mk "quiet${salt}" "echo starting; sleep 600; : > $out" { };
  chatty = mk "chatty${salt}" "while :; do echo still here; sleep 0.2; done" { };
}
"#;

fn bb_check() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(
        p.is_file(),
        "these tests need a static busybox at /bin/busybox (Debian package busybox-static)"
    );
    p
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("b8g-build-cli")
            .tempdir()
            .expect("tempdir");
        let proj = dir.path().join("proj");
        fs::create_dir_all(proj.join("bb/bin")).expect("mkdir");
        fs::copy(bb_check(), proj.join("bb/bin/busybox")).expect("copy busybox");
        fs::write(proj.join("default.nix"), DEFAULT_NIX).expect("write default.nix");
        World { dir }
    }

    fn proj(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    fn root(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Stores named `plain…` live at their logical paths (no chroot), so
    /// `result` links point at logical store paths, which the garbage
    /// collector follows; the others are chroot stores under `/b8g/store`.
    fn cmd(&self, exe: &str, store: &str) -> Command {
        let mut c = Command::new(exe);
        c.current_dir(self.proj());
        if store.starts_with("plain") {
            let r = self.root(store);
            c.arg("--store-dir")
                .arg(r.join("b8g/store"))
                .arg("--state-dir")
                .arg(r.join("b8g/var/b8g"));
        } else {
            c.args([
                "--store-dir",
                "/b8g/store",
                "--state-dir",
                "/b8g/var/b8g",
                "--root",
            ])
            .arg(self.root(store));
        }
        c.env_remove("B8G_STORE_DIR")
            .env_remove("B8G_STATE_DIR")
            .env_remove("B8G_STORE_ROOT")
            .env("B8G_CONF", self.dir.path().join("no-such.conf"));
        c
    }

    fn build(&self, store: &str, args: &[&str]) -> Output {
        self.cmd(B8G_BUILD, store)
            .arg("-q")
            .args(args)
            .output()
            .expect("run b8g-build")
    }

    fn b8g(&self, store: &str, args: &[&str]) -> Output {
        self.cmd(B8G, store).args(args).output().expect("run b8g")
    }

    /// The physical path of a logical store path in store `store`.
    fn real(&self, store: &str, logical: &str) -> PathBuf {
        if store.starts_with("plain") {
            return PathBuf::from(logical);
        }
        self.root(store).join(logical.trim_start_matches('/'))
    }

    fn log_files(&self, store: &str) -> usize {
        fn count(p: &Path) -> usize {
            fs::read_dir(p).map_or(0, |rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        count(&self.root(store).join("b8g/var/b8g/log/drvs"))
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn builds_any_derivation_with_links_logs_and_args() {
    let w = World::new();
    // --dry-run builds nothing and says what it would build.
    let o = w.build("plain", &["-A", "top", "--dry-run"]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("these 2 derivations will be built"), "{err}");
    assert_eq!(w.log_files("plain"), 0);
    // One derivation is "this derivation", as nix-build says.
    let o = w.build("plain", &["-A", "dep", "--dry-run"]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines().any(|l| l == "this derivation will be built:"),
        "{err}"
    );

    let out = ok(&w.build(
        "plain",
        &["-A", "top", "--argstr", "greeting", "hi", "-j", "2"],
    ));
    let path = out.trim();
    assert!(path.ends_with("-top"), "{out}");
    assert_eq!(
        fs::read_to_string(w.real("plain", path)).expect("read output"),
        "hi world\n"
    );
    // `result` points at the output and is registered as a GC root.
    let link = w.proj().join("result");
    assert_eq!(
        fs::read_link(&link).expect("result link"),
        w.real("plain", path)
    );
    let roots: Vec<PathBuf> = fs::read_dir(w.root("plain").join("b8g/var/b8g/gcroots/auto"))
        .expect("gcroots/auto")
        .map(|e| fs::read_link(e.expect("entry").path()).expect("root link"))
        .collect();
    assert!(roots.contains(&link), "{roots:?}");
    // The output survives a garbage collection because of the link.
    ok(&w.b8g("plain", &["store", "gc"]));
    assert!(
        w.real("plain", path).is_file(),
        "GC removed a rooted output"
    );

    // b8g log: by output path, by the result link, and by .drv path.
    let log = ok(&w.b8g("plain", &["log", path]));
    assert_eq!(log, "building top\n");
    assert_eq!(ok(&w.b8g("plain", &["log", "result"])), "building top\n");
    let drv = ok(&w.b8g(
        "plain",
        &["instantiate", "-A", "dep", "--argstr", "greeting", "hi"],
    ));
    assert_eq!(ok(&w.b8g("plain", &["log", drv.trim()])), "building dep\n");
    // A path that was never built has no log; the message says so.
    let o = w.b8g(
        "plain",
        &[
            "log",
            &format!(
                "{}/b8g/store/00000000000000000000000000000000-nothing",
                w.root("plain").display()
            ),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no known deriver"), "{}", text(&o));

    // Building again builds nothing and prints the same path.
    let o = w
        .cmd(B8G_BUILD, "plain")
        .args(["-A", "top", "--argstr", "greeting", "hi"])
        .output()
        .expect("run");
    assert_eq!(ok(&o).trim(), path);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("0 built"),
        "{}",
        text(&o)
    );

    // Several outputs: as nix-build 2.8, the value's own output (`out`) only, and
    // `drv.doc` for the other one.
    let out = ok(&w.build("plain", &["-A", "multi", "-o", "m"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(w.proj().join("m").exists() && !w.proj().join("m-doc").exists());
    let doc = ok(&w.build("plain", &["-A", "multi.doc", "-o", "md"]));
    assert_eq!(doc.lines().count(), 1, "{doc}");
    assert!(!w.proj().join("md").exists());
    assert_eq!(
        fs::read_to_string(w.proj().join("md-doc")).expect("md-doc"),
        "b\n"
    );

    // A failing build exits non-zero and registers nothing.
    let o = w.build("plain", &["-A", "broken"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("broken"), "{}", text(&o));
    let log = w.b8g(
        "plain",
        &[
            "log",
            ok(&w.b8g("plain", &["instantiate", "-A", "broken"])).trim(),
        ],
    );
    assert_eq!(ok(&log), "cannot\n");
}

#[test]
fn build_timeout_and_max_silent_time_kill_the_build() {
    let w = World::new();
    let t = std::time::Instant::now();
    let o = w.build("s", &["-A", "quiet", "--max-silent-time", "2"]);
    assert!(!o.status.success(), "a silent build must be killed");
    let msg = text(&o);
    assert!(msg.contains("of silence"), "{msg}");
    // The build sleeps for ten minutes: far less proves it was killed.
    assert!(t.elapsed() < std::time::Duration::from_secs(300));
    let t = std::time::Instant::now();
    let o = w.build("s", &["-A", "chatty", "--build-timeout", "3"]);
    assert!(!o.status.success(), "an endless build must be killed");
    let msg = text(&o);
    assert!(msg.contains("timed out after 3 s"), "{msg}");
    assert!(t.elapsed() < std::time::Duration::from_secs(300));
    // Nothing was registered for either.
    let o = w.build("s", &["-A", "quiet", "--dry-run"]);
    assert!(text(&o).contains("will be built"), "{}", text(&o));
}

#[test]
fn check_reports_identical_and_differing_rebuilds() {
    let w = World::new();
    let top = ok(&w.build("s", &["-A", "top"]));
    let top = top.trim();
    ok(&w.build("s", &["-A", "top", "--check"]));
    assert!(!w.real("s", &format!("{top}.check")).exists());

    let r = ok(&w.build("s", &["-A", "random"]));
    let r = r.trim();
    let before = fs::read_to_string(w.real("s", r)).expect("read");
    let o = w.build("s", &["-A", "random", "--check"]);
    assert!(
        !o.status.success(),
        "a non-deterministic rebuild must fail --check"
    );
    let msg = text(&o);
    assert!(msg.contains("may not be deterministic"), "{msg}");
    assert!(msg.contains("contents differ"), "{msg}");
    // Both are kept: the valid output unchanged, the rebuild next to it.
    assert_eq!(fs::read_to_string(w.real("s", r)).expect("read"), before);
    let check = fs::read_to_string(w.real("s", &format!("{r}.check"))).expect("read .check");
    assert_ne!(check, before);
    // The valid path still verifies; the .check copy is not registered
    // (verify lists it as a stray entry of the store directory, nothing else).
    let o = w.b8g("s", &["store", "verify", "--check-contents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("verify JSON");
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(".check is in the store directory but not registered"),
        "{problems:?}"
    );

    // In a directory, the message names the file that differs.
    ok(&w.build("s", &["-A", "tree"]));
    let msg = text(&w.build("s", &["-A", "tree", "--check"]));
    assert!(msg.contains("sub/r: contents differ"), "{msg}");
    assert!(!msg.contains("same:"), "{msg}");
}

#[test]
fn substitutes_from_a_signed_cache_instead_of_building() {
    let w = World::new();
    let top = ok(&w.build("a", &["-A", "top"]));
    let top = top.trim().to_owned();
    let keys = w.dir.path().join("keys");
    fs::create_dir_all(&keys).expect("mkdir");
    let sk = keys.join("k.secret");
    let pk = keys.join("k.public");
    ok(&w.b8g(
        "a",
        &[
            "cache",
            "key",
            "generate",
            "test-1",
            "--secret-file",
            sk.to_str().expect("utf8"),
            "--public-file",
            pk.to_str().expect("utf8"),
        ],
    ));
    let cache = format!("file://{}", w.dir.path().join("cache").display());
    ok(&w.b8g(
        "a",
        &[
            "cache",
            "push",
            &cache,
            &top,
            "--key",
            sk.to_str().expect("utf8"),
        ],
    ));
    let public = fs::read_to_string(&pk).expect("read key").trim().to_owned();

    // A fresh store with the cache and its key: nothing is built.
    let o = w
        .cmd(B8G_BUILD, "b")
        .args([
            "-A",
            "top",
            "-o",
            "rb",
            "--substituters",
            &cache,
            "--trusted-public-keys",
            &public,
        ])
        .output()
        .expect("run");
    assert_eq!(ok(&o).trim(), top);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("0 built"), "{err}");
    // Each path fetched gets nix-build's line, naming the cache.
    assert!(
        err.lines()
            .any(|l| l == format!("copying path '{top}' from '{cache}'...")),
        "{err}"
    );
    assert_eq!(
        w.log_files("b"),
        0,
        "a build ran although the cache had everything"
    );
    ok(&w.b8g("b", &["store", "verify", "--check-contents"]));
    assert_eq!(
        fs::read_to_string(w.real("b", &top)).expect("read"),
        "hello world\n"
    );

    // The same through the configuration file.
    let conf = w.dir.path().join("b8g.conf");
    fs::write(
        &conf,
        format!("substituters = {cache}\ntrusted-public-keys = {public}\n"),
    )
    .expect("write conf");
    let o = w
        .cmd(B8G_BUILD, "c")
        .env("B8G_CONF", &conf)
        .args(["-A", "top", "-o", "rc"])
        .output()
        .expect("run");
    assert_eq!(ok(&o).trim(), top);
    assert_eq!(w.log_files("c"), 0);

    // An untrusted key: nothing is fetched, everything is built instead.
    let other = "other-1:9nMlHOCZm38vUiLrpJOhTBDTQ7J5iZHdBBVTejHaaaE=";
    let o = w
        .cmd(B8G_BUILD, "d")
        .args([
            "-A",
            "top",
            "-o",
            "rd",
            "--substituters",
            &cache,
            "--trusted-public-keys",
            other,
        ])
        .output()
        .expect("run");
    assert_eq!(ok(&o).trim(), top);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2 built, 0 paths fetched"), "{err}");
    assert_eq!(w.log_files("d"), 2);
}

/// A failed build says what nix-build says: the builder's last log lines, the
/// command for the whole log, and exit status 100; log lines carry no colour
/// codes when stderr is no terminal.
#[test]
fn a_failed_build_shows_its_log_tail_and_exits_100() {
    let w = World::new();
    let o = w.build("s", &["-A", "broken"]);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let msg = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        msg.contains("error: builder for '") && msg.contains("broken.drv' failed"),
        "{msg}"
    );
    // Once, as Nix words it (it was "builder for … failed: builder for … failed with …").
    assert_eq!(msg.matches("builder for").count(), 1, "{msg}");
    assert!(msg.contains("       > cannot"), "no log tail:\n{msg}");
    assert!(msg.contains("For full logs, run 'b8g log "), "{msg}");
    // The command it names works.
    let drv = msg
        .split("run 'b8g log ")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a .drv path")
        .to_string();
    let log = w.b8g("s", &["log", &drv]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("cannot"),
        "{}",
        text(&log)
    );
    // Without -q, the log output to a pipe has no ANSI escapes and no line per added path.
    let o = w
        .cmd(B8G_BUILD, "s")
        .args(["-A", "dep"])
        .output()
        .expect("build");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes on a pipe:\n{err:?}");
    assert!(!err.contains("added"), "a line per added path:\n{err}");
}

/// `-E/--expr` builds the derivations of an expression, as `nix-build -E`
/// does; relative paths in it resolve against the current directory.
#[test]
fn builds_an_expression_given_with_e() {
    let w = World::new();
    let out = ok(&w.build(
        "plain",
        &[
            "-E",
            "import ./default.nix { greeting = \"hey\"; }",
            "-A",
            "top",
        ],
    ));
    let path = out.trim();
    assert!(path.ends_with("-top"), "{out}");
    assert_eq!(
        fs::read_to_string(w.real("plain", path)).expect("read output"),
        "hey world\n"
    );
    let out = ok(&w.build(
        "plain",
        &[
            "--expr",
            "(import ./default.nix { greeting = \"hey\"; }).dep",
            "--no-out-link",
        ],
    ));
    assert!(out.trim().ends_with("-dep"), "{out}");
    // A file beside the expression is refused.
    let o = w.build("plain", &["-E", "1", "default.nix"]);
    assert!(!o.status.success(), "{}", text(&o));
}

/// What a build prints as nix-build does, also on a pipe: a `building
/// '….drv'...` line per derivation built (none when all is valid), and with
/// `-L`/`--print-build-logs` the builders' output as `name> line`, also under
/// `-q`. Regression: builder output was never shown outside a terminal.
#[test]
fn build_output_names_each_build_and_l_streams_the_logs() {
    let w = World::new();
    let drv = |attr: &str| {
        ok(&w.b8g("s", &["instantiate", "-A", attr]))
            .trim()
            .to_owned()
    };
    let (dep, top) = (drv("dep"), drv("top"));
    let run = |exe: &str, args: &[&str]| {
        let o = w.cmd(exe, "s").args(args).output().expect("build");
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(B8G_BUILD, &["-A", "top"]);
    let lines: Vec<&str> = err.lines().collect();
    let building = |d: &str| format!("building '{d}'...");
    assert!(lines.contains(&building(&dep).as_str()), "{err}");
    assert!(lines.contains(&building(&top).as_str()), "{err}");
    assert!(!err.contains("building dep"), "logs without -L:\n{err}");
    // Nothing to build: no such line.
    let err = run(B8G_BUILD, &["-A", "top"]);
    assert!(!err.contains("building '"), "{err}");

    // -L: each builder line with its derivation's name.
    let err = run(B8G_BUILD, &["-L", "-A", "top", "--argstr", "salt", "1"]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.contains(&"dep1> building dep"), "{err}");
    assert!(lines.contains(&"top1> building top"), "{err}");
    // `b8g build --print-build-logs -q`: the logs only.
    let err = run(
        B8G,
        &[
            "-q",
            "build",
            "--print-build-logs",
            "-A",
            "top",
            "--argstr",
            "salt",
            "2",
        ],
    );
    assert!(err.lines().any(|l| l == "dep2> building dep"), "{err}");
    assert!(!err.contains("building '"), "-q: {err}");
}

/// A malformed trusted key is reported once, naming the key (the reason was printed twice).
#[test]
fn a_malformed_trusted_key_is_reported_once() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("d.nix");
    std::fs::write(
        &file,
        "derivation { name = \"x\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; }",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_b8g-build"))
        .arg("--root")
        .arg(root.path().join("r"))
        .args(["--no-out-link", "--trusted-public-keys=."])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad trusted public key \".\""), "{stderr}");
    assert_eq!(stderr.matches("has no ':'").count(), 1, "{stderr}");
}

/// The links `result`, `result-2`, … in `dir`, in order.
fn result_links(dir: &Path) -> Vec<PathBuf> {
    (1..=20)
        .map(|i| match i {
            1 => dir.join("result"),
            _ => dir.join(format!("result-{i}")),
        })
        .filter(|l| l.symlink_metadata().is_ok())
        .collect()
}

/// `b8g-build A B C`: each file evaluated on its own thread, all built in one
/// run, linked `result`, `result-2`, … in the order given; the output and the
/// links are those of one thread, and the first failing file's error is the
/// one reported, as when the files are evaluated one after the other.
#[test]
fn several_files_are_built_together_as_on_one_thread() {
    let w = World::new();
    let proj = w.proj();
    // A second file with two derivations and a third with a multi-output one.
    fs::write(
        proj.join("two.nix"),
        "let d = import ./default.nix { greeting = \"two\"; salt = \"2\"; }; in [ d.top d.dep ]",
    )
    .expect("write two.nix");
    fs::write(proj.join("bad.nix"), "throw \"bad file\"").expect("write bad.nix");
    fs::write(
        proj.join("one.nix"),
        "let d = import ./default.nix { }; in { inherit (d) top multi; }",
    )
    .expect("write one.nix");
    let files = ["one.nix", "two.nix"];
    let run = |store: &str, threads: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec!["-A", "top"];
        args.extend(extra);
        args.extend(files);
        w.cmd(B8G_BUILD, store)
            .arg("-q")
            .args(&args)
            .env("B8G_EVAL_THREADS", threads)
            .output()
            .expect("run b8g-build")
    };
    // -A applies to each file (`two.nix` is a list: `top` of it is an error).
    let o = run("plain1", "2", &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(
            "the expression selected by the selection path 'top' should be a set but is a list"
        ),
        "{}",
        text(&o)
    );

    let run = |store: &str, threads: &str| {
        w.cmd(B8G_BUILD, store)
            .arg("-q")
            .args(files)
            .env("B8G_EVAL_THREADS", threads)
            .output()
            .expect("run b8g-build")
    };
    let one = ok(&run("plain1", "1"));
    let links_one = result_links(&proj);
    for l in &links_one {
        fs::remove_file(l).expect("remove link");
    }
    let two = ok(&run("plain2", "2"));
    // Same outputs in the same order (the hashes differ with the store directories).
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                let base = l.rsplit('/').next().unwrap_or("");
                base.split_once('-')
                    .map_or(base, |(_, name)| name)
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&one), names(&two));
    // one.nix's derivations (multi's out, top) then two.nix's top and dep.
    let last: Vec<&str> = one.lines().rev().take(2).collect();
    assert!(
        last[0].ends_with("-dep2") && last[1].ends_with("-top2"),
        "{one}"
    );
    // One link per output, numbered across all files, for both runs.
    let links_two = result_links(&proj);
    assert_eq!(links_one, links_two);
    // multi, top, top2, dep2; only multi's `out`, as nix-build 2.8 links.
    assert_eq!(links_two.len(), 4, "{links_two:?}");
    assert_eq!(one.lines().count(), 4, "{one}");
    assert!(!proj.join("result-doc").exists());
    assert_eq!(
        fs::read_to_string(proj.join(format!("result-{}", links_two.len()))).expect("last link"),
        "two\n"
    );

    // A derivation given twice is printed twice and linked once (nix-build 2.8).
    for l in result_links(&proj) {
        fs::remove_file(l).expect("remove link");
    }
    let twice = ok(&w
        .cmd(B8G_BUILD, "plain2")
        .args(["-q", "one.nix", "one.nix"])
        .output()
        .expect("run b8g-build"));
    assert_eq!(twice.lines().count(), 4, "{twice}");
    assert_eq!(result_links(&proj).len(), 2);

    // The first failing file's error, on any number of threads; nothing built.
    for threads in ["1", "2"] {
        let o = w
            .cmd(B8G_BUILD, "plain3")
            .args(["-q", "bad.nix", "two.nix"])
            .env("B8G_EVAL_THREADS", threads)
            .output()
            .expect("run b8g-build");
        assert!(!o.status.success());
        assert!(text(&o).contains("bad file"), "{}", text(&o));
        assert_eq!(w.log_files("plain3"), 0);
    }
    // Commands that build one system refuse a second file.
    let o = w.b8g("plain3", &["run-vm", "default.nix", "two.nix"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("run-vm takes one configuration file, not also two.nix"),
        "{}",
        text(&o)
    );
}

/// With several files, traces come out in the order of the files (a later
/// file's are held until the earlier ones are done, and dropped after a
/// failure), a failure is reported without waiting for later files (they are
/// interrupted), and files of plain derivations need no system settings.
#[test]
fn several_files_trace_in_order_and_stop_at_the_first_failure() {
    let w = World::new();
    let proj = w.proj();
    // Slow enough that the second file finishes first on two threads.
    fs::write(
        proj.join("slow.nix"),
        "builtins.trace \"slow done\" (builtins.seq (builtins.foldl' (a: b: a + b) 0 \
         (builtins.genList (x: x) 3000000)) [ ])",
    )
    .expect("write slow.nix");
    fs::write(proj.join("fast.nix"), "builtins.trace \"fast done\" [ ]").expect("write fast.nix");
    fs::write(
        proj.join("slowbad.nix"),
        "builtins.seq (builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 3000000)) \
         (throw \"slow failure\")",
    )
    .expect("write slowbad.nix");
    // Never ends (until memory runs out): must be interrupted.
    fs::write(
        proj.join("forever.nix"),
        "builtins.length (builtins.genericClosure { startSet = [ { key = 0; } ]; \
         operator = x: [ { key = x.key + 1; } ]; })",
    )
    .expect("write forever.nix");
    let run = |threads: &str, files: &[&str]| {
        let o = w
            .cmd(B8G_BUILD, "plain")
            .args(["-q", "--dry-run", "--recipes", "/nonexistent"])
            .args(files)
            .env("B8G_EVAL_THREADS", threads)
            .output()
            .expect("run b8g-build");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    for threads in ["1", "2"] {
        let (ok, err) = run(threads, &["slow.nix", "fast.nix"]);
        assert!(ok, "{err}");
        assert_eq!(
            err, "trace: slow done\ntrace: fast done\n",
            "{threads} threads"
        );

        let (ok, err) = run(threads, &["slowbad.nix", "fast.nix", "forever.nix"]);
        assert!(!ok);
        assert!(err.contains("slow failure"), "{err}");
        assert!(!err.contains("fast done"), "{threads} threads: {err}");
    }
}

/// A FILE that does not exist is reported in nix-build's words.
#[test]
fn a_missing_file_is_reported_as_nix_build_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.nix");
    let o = std::process::Command::new(B8G_BUILD)
        .arg(&missing)
        .output()
        .expect("run b8g-build");
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: getting status of '{}': No such file or directory\n",
            missing.display()
        )
    );
}

/// Several `-A` select from one evaluation of the file, as nix-build's do:
/// what the file traces is traced once, and a system takes one `-A`.
#[test]
fn several_attrs_share_one_evaluation() {
    let w = World::new();
    let proj = w.proj();
    fs::write(
        proj.join("traced.nix"),
        "builtins.trace \"top\" (let d = import ./default.nix { }; in { a = d.dep; b = d.top; })",
    )
    .expect("write traced.nix");
    let o = w
        .cmd(B8G_BUILD, "plain")
        .args(["-q", "--dry-run", "-A", "a", "-A", "b", "traced.nix"])
        .output()
        .expect("run b8g-build");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("trace: top").count(), 1, "{err}");
    assert!(err.contains("these 2 derivations will be built"), "{err}");

    fs::write(
        proj.join("sys.nix"),
        "{ config, ... }: { networking.hostName = \"x\"; }",
    )
    .expect("write sys.nix");
    let o = w
        .cmd(B8G_BUILD, "plain")
        .args(["-q", "--dry-run", "-A", "toplevel", "-A", "vm", "sys.nix"])
        .output()
        .expect("run b8g-build");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("give at most one -A"), "{err}");
}
