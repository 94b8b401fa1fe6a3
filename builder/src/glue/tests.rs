//! The derivation corpus (testdata/eval/drv): each file prints drv and
//! output paths; ours must equal what Nix 2.8 printed (`.exp`), and what a
//! live `nix-instantiate` prints (`drv_oracle_live`).

use super::host::Scratch;
use super::*;
use b8g_eval::{run_with_big_stack, value_to_text, EvalOptions, Evaluator, OutputMode, StdIo};
use b8g_store::format::store_path::StoreDir;
use std::process::Command;

fn drv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eval/drv")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(drv_dir())
        .expect("testdata/eval/drv exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    v.sort();
    v
}

fn ours(p: &Path, host: StoreHost) -> Result<String, String> {
    let p = p.to_string_lossy().into_owned();
    run_with_big_stack(move || {
        let mut ev = Evaluator::with_builtins(
            Box::new(StdIo),
            Box::new(host),
            EvalOptions::default(),
            store_builtins(),
        );
        ev.eval_file(&p)
            .and_then(|v| value_to_text(&mut ev, v, OutputMode::Strict))
            .map_err(|e| e.to_string())
    })
    .expect("evaluation thread runs")
}

fn nix_store_dir() -> StoreDir {
    StoreDir::new("/nix/store").expect("valid store dir")
}

#[test]
fn drv_corpus_golden() {
    let cases = cases();
    assert!(cases.len() >= 20, "need at least 20 derivation cases");
    let mut bad = Vec::new();
    for p in &cases {
        let exp = std::fs::read_to_string(p.with_extension("exp"))
            .unwrap_or_else(|_| panic!("{} has no .exp", p.display()));
        let got = ours(p, StoreHost::dry_run(nix_store_dir()));
        if got.as_deref() != Ok(exp.trim_end()) {
            bad.push(format!(
                "{}:\n  want {}\n  got  {got:?}",
                p.display(),
                exp.trim_end()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The same files against a live `nix-instantiate` with a throw-away store.
#[test]
fn drv_oracle_live() {
    let tmp = std::env::temp_dir().join(format!("b8g-glue-oracle-{}", std::process::id()));
    let mut bad = Vec::new();
    for p in cases() {
        let out = Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--store"])
            .arg(format!("local?root={}", tmp.join("root").display()))
            .arg(&p)
            .env("NIX_STATE_DIR", tmp.join("state"))
            .env("NIX_LOG_DIR", tmp.join("log"))
            .env("NIX_CONF_DIR", tmp.join("conf"))
            .env("HOME", &tmp)
            .output()
            .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
        let theirs = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        let got = ours(&p, StoreHost::dry_run(nix_store_dir()));
        if !out.status.success() || got.as_deref() != Ok(theirs.as_str()) {
            bad.push(format!("{}:\n  nix  {theirs}\n  ours {got:?}", p.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// With a local store the `.drv` files are written, byte for byte as
/// `nix-instantiate` writes them into its own throw-away store.
#[test]
fn writes_the_same_drv_files_as_nix() {
    use b8g_store::local::StoreConfig;
    let tmp = Scratch::new().expect("scratch dir");
    let config = StoreConfig {
        store_dir: nix_store_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(tmp.0.join("ours")),
    };
    let store = LocalStore::open(&config).expect("open a store in a temp root");
    let expr = "let a = builtins.toFile \"a.txt\" \"A\"; dep = derivation { name = \"dep\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; outputs = [ \"out\" \"dev\" ]; }; in derivation { name = \"w\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; src = a; d = dep.dev; args = [ \"-c\" \"${dep}\" ]; }";
    let drv_path = run_with_big_stack(move || {
        let mut ev = Evaluator::with_builtins(
            Box::new(StdIo),
            Box::new(StoreHost::new(nix_store_dir(), Box::new(store))),
            EvalOptions::default(),
            store_builtins(),
        );
        ev.eval_str(expr, "/")
            .and_then(|v| b8g_eval::derivation_paths(&mut ev, v))
            .map_err(|e| e.to_string())
    })
    .expect("evaluation thread runs")
    .expect("evaluates");
    assert_eq!(drv_path.len(), 1);
    let ours = std::fs::read(tmp.0.join("ours").join(drv_path[0].trim_start_matches('/')))
        .expect("our .drv was written");
    let nix_root = tmp.0.join("nix");
    let out = Command::new("nix-instantiate")
        .arg("--store")
        .arg(format!("local?root={}", nix_root.display()))
        .args(["-E", expr])
        .env("NIX_STATE_DIR", tmp.0.join("state"))
        .env("NIX_LOG_DIR", tmp.0.join("log"))
        .env("NIX_CONF_DIR", tmp.0.join("conf"))
        .env("HOME", &tmp.0)
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
    let theirs_path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        theirs_path,
        drv_path[0],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = std::fs::read(nix_root.join(theirs_path.trim_start_matches('/')))
        .expect("nix wrote its .drv");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

/// A file and a gzipped tarball (one top-level directory) to fetch.
fn fetch_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let file = dir.join("hello.txt");
    std::fs::write(&file, "hello fetch\n").expect("write fixture");
    let tgz = dir.join("pkg.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tgz).expect("create tarball"),
        flate2::Compression::default(),
    );
    let mut b = tar::Builder::new(gz);
    for (path, body, mode) in [
        ("pkg-1.0/a", "a\n", 0o644),
        ("pkg-1.0/sub/run", "#!/bin/sh\n", 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, path, body.as_bytes())
            .expect("append to tarball");
    }
    b.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish tarball");
    (file, tgz)
}

fn eval_with(host: StoreHost, expr: String) -> Result<String, String> {
    run_with_big_stack(move || {
        let mut ev = Evaluator::with_builtins(
            Box::new(StdIo),
            Box::new(host),
            EvalOptions::default(),
            store_builtins(),
        );
        ev.eval_str(&expr, "/")
            .and_then(|v| value_to_text(&mut ev, v, OutputMode::Strict))
            .map_err(|e| e.to_string())
    })
    .expect("evaluation thread runs")
}

fn fetch_exprs(file: &Path, tgz: &Path) -> String {
    format!(
        "[ (builtins.fetchurl \"file://{f}\") (builtins.fetchurl {{ url = \"file://{f}\"; name = \"x\"; sha256 = \"sha256-THNTcPvzp5sI67XvP8fTqR4CBhgdaulO5P5aiIgqTx0=\"; }}) (builtins.fetchTarball \"file://{t}\") (builtins.fetchTarball {{ url = \"file://{t}\"; name = \"pkg\"; }}) ]",
        f = file.display(),
        t = tgz.display()
    )
}

/// fetchurl/fetchTarball of file:// URLs give Nix's store paths, in a dry
/// run and when writing into a store (where the content must land).
#[test]
fn fetchers_give_nixs_store_paths() {
    use b8g_store::local::StoreConfig;
    let tmp = Scratch::new().expect("scratch dir");
    let (file, tgz) = fetch_fixture(&tmp.0);
    let expr = fetch_exprs(&file, &tgz);
    let dry = eval_with(StoreHost::dry_run(nix_store_dir()), expr.clone()).expect("dry run");
    let config = StoreConfig {
        store_dir: nix_store_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(tmp.0.join("ours")),
    };
    let store = LocalStore::open(&config).expect("open a store in a temp root");
    let host = StoreHost::new(nix_store_dir(), Box::new(store));
    let written = eval_with(host, expr.clone()).expect("evaluates with a store");
    assert_eq!(dry, written);
    let paths: Vec<&str> = written
        .trim_matches(|c| c == '[' || c == ']' || c == ' ')
        .split_whitespace()
        .map(|p| p.trim_matches('"'))
        .collect();
    assert_eq!(paths.len(), 4, "{written}");
    let real = |p: &str| tmp.0.join("ours").join(p.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(real(paths[0])).expect("fetched file in the store"),
        "hello fetch\n"
    );
    assert!(real(paths[2]).join("sub/run").exists(), "tarball unpacked");
    let nix_root = tmp.0.join("nix");
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--store"])
        .arg(format!("local?root={}", nix_root.display()))
        .args(["-E", &expr])
        .env("NIX_STATE_DIR", tmp.0.join("state"))
        .env("NIX_LOG_DIR", tmp.0.join("log"))
        .env("NIX_CONF_DIR", tmp.0.join("conf"))
        .env("XDG_CACHE_HOME", tmp.0.join("cache"))
        .env("HOME", &tmp.0)
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dry,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A wrong declared hash fails with both hashes, as Nix prints them.
#[test]
fn fetch_hash_mismatch_names_both_hashes() {
    let tmp = Scratch::new().expect("scratch dir");
    let (file, tgz) = fetch_fixture(&tmp.0);
    let zero = "0000000000000000000000000000000000000000000000000000";
    let e = eval_with(
        StoreHost::dry_run(nix_store_dir()),
        format!(
            "builtins.fetchurl {{ url = \"file://{}\"; sha256 = \"{zero}\"; }}",
            file.display()
        ),
    )
    .expect_err("the hash is wrong");
    assert!(
        e.contains(&format!(
            "hash mismatch in file downloaded from 'file://{}':",
            file.display()
        )) && e.contains(&format!("specified: sha256:{zero}"))
            && e.contains("got:       sha256:07ag5a48hnpywi7fjshx303047m9sg3kzvxmxc49p9zkzdq56wsc"),
        "{e}"
    );
    let e = eval_with(
        StoreHost::dry_run(nix_store_dir()),
        format!(
            "builtins.fetchTarball {{ url = \"file://{}\"; sha256 = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }}",
            tgz.display()
        ),
    )
    .expect_err("the hash is wrong");
    assert!(
        e.contains("hash mismatch") && e.contains("got:       sha256:"),
        "{e}"
    );
    let e = eval_with(
        StoreHost::dry_run(nix_store_dir()),
        format!("builtins.fetchurl \"file://{}/missing\"", tmp.0.display()),
    )
    .expect_err("no such file");
    assert!(e.contains("unable to download"), "{e}");
    let e = eval_with(
        StoreHost::dry_run(nix_store_dir()),
        "builtins.fetchurl { url = \"file:///x\"; hash = \"\"; }".to_string(),
    )
    .expect_err("hash is not an argument of fetchurl in Nix 2.8");
    assert!(
        e.contains("unsupported argument 'hash' to 'fetchurl'"),
        "{e}"
    );
}

/// `nix hash to-<format>` of Nix 2.8 (`nix-command`), in a throw-away state dir.
fn nix_hash_to(tmp: &Path, format: &str, algo: Option<&str>, hash: &str) -> Option<String> {
    let sub = match format {
        "base16" => "to-base16",
        "nix32" | "base32" => "to-base32",
        "base64" => "to-base64",
        "sri" => "to-sri",
        other => panic!("no nix hash command for {other}"),
    };
    let mut cmd = Command::new("nix");
    cmd.args(["--extra-experimental-features", "nix-command", "hash", sub]);
    if let Some(a) = algo {
        cmd.args(["--type", a]);
    }
    let out = cmd
        .arg(hash)
        .env("NIX_STATE_DIR", tmp.join("state"))
        .env("NIX_LOG_DIR", tmp.join("log"))
        .env("NIX_CONF_DIR", tmp.join("conf"))
        .env("HOME", tmp)
        .output()
        .expect("nix must be installed (apt package nix-bin) for this test");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `convertHash` (Nix 2.19) converts as Nix 2.8's `nix hash to-*` does, which
/// goes through the same `Hash::parseAny(s, type).to_string(base, base == SRI)`;
/// what 2.8 refuses, convertHash refuses. Runs without a store.
#[test]
fn convert_hash_agrees_with_nix_hash() {
    let tmp = Scratch::new().expect("scratch dir");
    let empty256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let inputs: Vec<(String, Option<&str>)> = vec![
        (empty256.into(), Some("sha256")),
        (format!("sha256:{empty256}"), None),
        (format!("sha256:{empty256}"), Some("sha256")),
        ("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(), None),
        ("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=".into(), None),
        ("143xibwh31h9bvxzalr0sjvbbvpa6ffs".into(), Some("sha1")),
        ("d41d8cd98f00b204e9800998ecf8427e".into(), Some("md5")),
        ("1B2M2Y8AsgTpgAmY7PhCfg==".into(), Some("md5")),
        (
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".into(),
            None,
        ),
        // Refused by both: no algorithm, a contradicting one, a wrong length, a bad digit.
        (empty256.into(), None),
        (format!("sha256:{empty256}"), Some("sha1")),
        ("abcd".into(), Some("sha256")),
        (empty256.replace('e', "z"), Some("sha256")),
    ];
    let mut bad = Vec::new();
    for (hash, algo) in &inputs {
        for format in ["base16", "nix32", "base32", "base64", "sri"] {
            let algo_attr = algo
                .map(|a| format!("hashAlgo = \"{a}\";"))
                .unwrap_or_default();
            let expr = format!(
                "builtins.convertHash {{ hash = \"{hash}\"; toHashFormat = \"{format}\"; {algo_attr} }}"
            );
            let ours = EvalSession::pure()
                .run(move |ev, dir| {
                    let v = ev.eval_str(&expr, dir)?;
                    let s = ev.force_string(v, b8g_eval::Pos::NONE)?;
                    Ok(s.s.clone())
                })
                .ok();
            let theirs = nix_hash_to(&tmp.0, format, *algo, hash);
            if ours != theirs {
                bad.push(format!(
                    "{hash} {algo:?} → {format}: nix {theirs:?}, ours {ours:?}"
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The manual's examples, and its errors for unknown names.
#[test]
fn convert_hash_follows_the_manual() {
    let eval = |expr: &str| {
        let expr = expr.to_string();
        EvalSession::pure().run(move |ev, dir| {
            let v = ev.eval_str(&expr, dir)?;
            b8g_eval::value_to_text(ev, v, OutputMode::Strict)
        })
    };
    assert_eq!(
        eval("builtins.convertHash { hash = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"; toHashFormat = \"sri\"; hashAlgo = \"sha256\"; }").expect("converts"),
        "\"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\""
    );
    assert_eq!(
        eval("builtins.convertHash { hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; toHashFormat = \"base16\"; }").expect("converts"),
        "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""
    );
    let e = eval("builtins.convertHash { hash = \"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"; toHashFormat = \"hex\"; }").expect_err("unknown format");
    assert!(e.to_string().contains("unknown hash format 'hex'"), "{e}");
    let e =
        eval("builtins.convertHash { hash = \"x\"; toHashFormat = \"sri\"; hashAlgo = \"sha3\"; }")
            .expect_err("unknown algorithm");
    assert!(
        e.to_string().contains("unknown hash algorithm 'sha3'"),
        "{e}"
    );
    let e = eval("builtins.convertHash { toHashFormat = \"sri\"; }").expect_err("no hash");
    assert!(e.to_string().contains("attribute 'hash' missing"), "{e}");
}

/// A filtered source (`builtins.path` with `filter`) is hashed in place and copied
/// only when the store lacks it: into an empty store and into one holding it, the
/// path is Nix's, and only the kept entries are stored. A root that is a file or
/// a link is kept whole, as Nix never asks the filter about the root.
#[test]
fn filtered_sources_give_nixs_paths_into_a_cold_and_a_warm_store() {
    use b8g_store::local::StoreConfig;
    let tmp = Scratch::new().expect("scratch dir");
    let src = tmp.0.join("src");
    std::fs::create_dir_all(src.join("keep/deep")).expect("mkdir");
    std::fs::create_dir_all(src.join("drop")).expect("mkdir");
    std::fs::write(src.join("keep/a"), "a\n").expect("write");
    std::fs::write(src.join("keep/deep/b"), "b\n").expect("write");
    std::fs::write(src.join("keep/skip.o"), "object\n").expect("write");
    std::fs::write(src.join("drop/c"), "c\n").expect("write");
    std::os::unix::fs::symlink("keep/a", src.join("link")).expect("symlink");
    let expr = format!(
        "[ (builtins.path {{ path = {s}; name = \"src\"; \
             filter = p: t: builtins.match \".*(drop|\\\\.o)\" p == null; }}) \
           (builtins.path {{ path = {s}/keep/a; name = \"file\"; filter = p: t: false; }}) \
           (builtins.path {{ path = {s}-link; filter = p: t: throw \"asked\"; }}) ]",
        s = src.display()
    );
    // A root that is a link is stored as the link; the filter is never asked.
    std::os::unix::fs::symlink(&src, tmp.0.join("src-link")).expect("symlink");
    let config = StoreConfig {
        store_dir: nix_store_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(tmp.0.join("ours")),
    };
    let run = || {
        let store = LocalStore::open(&config).expect("open a store in a temp root");
        eval_with(
            StoreHost::new(nix_store_dir(), Box::new(store)),
            expr.clone(),
        )
        .expect("evaluates")
    };
    let cold = run();
    let warm = run();
    assert_eq!(cold, warm);
    let nix_root = tmp.0.join("nix");
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--read-write-mode", "--store"])
        .arg(format!("local?root={}", nix_root.display()))
        .args(["-E", &expr])
        .env("NIX_STATE_DIR", tmp.0.join("state"))
        .env("NIX_CONF_DIR", tmp.0.join("conf"))
        .env("HOME", &tmp.0)
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        cold,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = |logical: &str| tmp.0.join("ours").join(logical.trim_start_matches('/'));
    let paths: Vec<&str> = cold
        .trim_matches(|c| c == '[' || c == ']' || c == ' ')
        .split_whitespace()
        .map(|p| p.trim_matches('"'))
        .collect();
    let tree = stored(paths[0]);
    assert_eq!(
        std::fs::read_to_string(tree.join("keep/deep/b")).expect("kept"),
        "b\n"
    );
    assert!(!tree.join("drop").exists() && !tree.join("keep/skip.o").exists());
    assert_eq!(
        std::fs::read_link(tree.join("link")).expect("kept link"),
        Path::new("keep/a")
    );
    assert_eq!(
        std::fs::read_to_string(stored(paths[1])).expect("file"),
        "a\n"
    );
}

/// Scratch directories are made anew under random names, private to their
/// owner: one planted in the temporary directory is never used.
#[test]
fn scratch_directories_are_new_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let a = Scratch::new().expect("scratch dir");
    let b = Scratch::new().expect("scratch dir");
    assert_ne!(a.0, b.0);
    let mode = std::fs::metadata(&a.0).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let gone = a.0.clone();
    drop(a);
    assert!(!gone.exists());
}

/// `builtins.path` as Nix 2.8 reports a failure (`--show-trace`): the system's error
/// without a position, then the frame `addPath` adds, which also holds for an error in
/// the filter.
#[test]
fn adding_a_path_fails_with_nixs_frame() {
    use b8g_store::local::StoreConfig;
    let tmp = Scratch::new().expect("scratch dir");
    let config = StoreConfig {
        store_dir: nix_store_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(tmp.0.join("store")),
    };
    let eval = |expr: &str| {
        let store = LocalStore::open(&config).expect("open a store in a temp root");
        eval_with(
            StoreHost::new(nix_store_dir(), Box::new(store)),
            expr.to_string(),
        )
    };
    let e = eval("builtins.path { path = /nonexist-b8g; }").expect_err("missing path");
    assert_eq!(
        e,
        "error: getting status of '/nonexist-b8g': No such file or directory\n\n       \
         … while adding path '/nonexist-b8g'\n\n       at «string»:1:1:\n\n            \
         1| builtins.path { path = /nonexist-b8g; }\n             | ^"
    );
    let src = tmp.0.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("a"), "a").expect("write");
    let expr = format!(
        "builtins.path {{ path = {}; filter = p: t: throw \"no\"; }}",
        src.display()
    );
    let e = eval(&expr).expect_err("the filter throws");
    assert!(e.starts_with("error: no\n"), "{e}");
    let frame = format!(
        "… while adding path '{}'\n\n       at «string»:1:1:",
        src.display()
    );
    assert!(e.contains(&frame), "{e}");
}

/// A derivation's attributes fail as in Nix 2.8 (`--show-trace`): with
/// `derivationStrict`'s frame at the `name` attribute, and with positions inside
/// `derivation.nix` that are Nix's own, its lines not shown.
#[test]
fn derivation_errors_have_nixs_frames_and_positions() {
    let eval = |expr: &str| {
        let expr = expr.to_string();
        EvalSession::dry_run(StoreDir::new("/nix/store").expect("valid store dir")).run(
            move |ev, dir| {
                let v = ev.eval_str(&expr, dir)?;
                b8g_eval::value_to_text(ev, v, OutputMode::Strict)
            },
        )
    };
    let e = eval("(derivation { name = \"a\"; system = \"x\"; builder = \"/bin/sh\"; foo = throw \"no foo\"; }).drvPath")
        .expect_err("foo throws");
    assert_eq!(
        e.to_string(),
        "error: no foo\n\n       … while evaluating the attribute 'foo' of the derivation 'a'\n\n       \
         at «string»:1:15:\n\n            1| (derivation { name = \"a\"; system = \"x\"; builder = \
         \"/bin/sh\"; foo = throw \"no foo\"; }).drvPath\n             |               ^"
    );
    let e = eval("(derivation { name = 1; system = \"x\"; builder = \"/bin/sh\"; }).drvPath")
        .expect_err("the name is no string");
    assert_eq!(
        e.to_string(),
        "error: value is an integer while a string was expected\n\n       at \
         //builtin/derivation.nix:9:12:\n       … while evaluating the derivation attribute \
         'name'\n\n       at «string»:1:15:\n\n            1| (derivation { name = 1; system = \
         \"x\"; builder = \"/bin/sh\"; }).drvPath\n             |               ^"
    );
}
